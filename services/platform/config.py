"""Settings from the environment (and `.env`). Each unset service URL selects the
embedded default: embedded PostgreSQL, local payment gateway, in-process delivery."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-secret-do-not-use-in-production-0123456789"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class GatewayKind(StrEnum):
    AUTO = "auto"  # Stripe when STRIPE_API_KEY is set, else the local gateway
    LOCAL = "local"
    STRIPE = "stripe"
    BILLING_ENGINE = "billing_engine"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    database_url: str | None = None
    embedded_data_dir: Path = Path(".data/postgres")
    db_pool_size: int = Field(default=10, ge=1)
    redis_url: str | None = None
    # Prefix of every Redis key and channel: deployments sharing one Redis stay apart
    # (pub/sub ignores the database index). Unset: derived from the database.
    redis_namespace: str | None = Field(default=None, min_length=1, max_length=64)
    kafka_bootstrap_servers: str | None = None
    payment_gateway: GatewayKind = GatewayKind.AUTO
    billing_engine_url: str | None = None  # host:port of the engine's gRPC server
    billing_engine_timeout_seconds: float = Field(default=5.0, gt=0)  # per call
    billing_engine_tls: bool = False
    billing_engine_ca_file: Path | None = None
    billing_engine_cert_file: Path | None = None  # client certificate (mutual TLS)
    billing_engine_key_file: Path | None = None
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None  # a Stripe-compatible stand-in (tests, stripe-mock)
    stripe_timeout_seconds: float = Field(default=10.0, gt=0)
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1)

    # Who issues the invoices, printed on each (the buyer is the customer's account).
    seller_name: str = "Subscription Service"
    seller_address: str = ""
    seller_tax_id: str = ""

    jwt_secret: str | None = None  # development falls back to DEV_JWT_SECRET
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str = "subscription-service"
    jwt_audience: str = "subscription-service"
    dev_token_ttl_seconds: int = 24 * 3600

    # GraphQL limits: untrusted documents are refused before execution.
    graphql_max_depth: int = Field(default=10, ge=1)
    graphql_max_tokens: int = Field(default=2000, ge=10)
    graphql_max_aliases: int = Field(default=15, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    usage_batch_max_bytes: int = Field(default=1024 * 1024, ge=1024)  # POST /api/v1/usage
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)  # all names and values
    max_headers: int = Field(default=100, ge=10)
    body_timeout_seconds: float = Field(default=10.0, gt=0)  # to receive a whole body
    # Parsed documents and persisted-query texts kept per process, by estimated memory.
    graphql_document_cache_bytes: int = Field(default=16 * 1024 * 1024, ge=1024 * 1024)
    # One log line per request costs ~6% of a hot read's CPU; /metrics counts requests.
    access_log: bool = False

    # Websockets and the cache.
    websocket_init_timeout_seconds: float = Field(default=10.0, gt=0)
    websocket_keepalive_seconds: float = Field(default=15.0, gt=0)
    websocket_pong_timeout_seconds: float = Field(default=10.0, gt=0)
    websocket_max_subscriptions: int = Field(default=10, ge=1)
    redis_timeout_seconds: float = Field(default=0.1, gt=0)  # tight: fall back, never wait
    # Connections per process; a burst past them waits (10 × the timeout) for a free one
    # instead of falling back to PostgreSQL.
    redis_max_connections: int = Field(default=200, ge=1)
    access_cache: bool = True  # off: every entitlement read goes to PostgreSQL
    # Single consumeQuota / recordUsage calls that arrive together share one transaction
    # (docs/usage.md): at most this many, joined within this wait (0: those that arrive
    # while the batch ahead commits, no timer).
    usage_group_commit: bool = True
    usage_group_max_calls: int = Field(default=256, ge=1, le=5000)
    usage_group_wait_ms: float = Field(default=0.0, ge=0, le=50)
    # Batches committing at once: the next one starts while one waits on PostgreSQL.
    usage_group_in_flight: int = Field(default=2, ge=1, le=8)
    # An immediate cancellation of a paid period credits its unused time to the balance.
    credit_unused_time: bool = True
    # How far ahead a plan's price change must be when it moves existing subscribers.
    price_notice_days: int = Field(default=30, ge=0, le=3650)
    # Where browsers reach the service (checkout links); empty: links are relative.
    public_url: str = ""

    # Kafka: topics are configurable; the message key is always the user id.
    kafka_client_id: str = "subscription-service"
    kafka_consumer_group: str = "subscription-service"
    kafka_idempotent_producer: bool = False  # needs a broker that supports it
    topic_overrides: dict[str, str] = Field(default_factory=dict)  # event type -> topic
    topic_payment_processed: str = "payment.processed"
    topic_subscribe_command: str = "subscription.subscribe"
    topic_cancel_command: str = "subscription.cancel"
    topic_usage_recorded: str = "usage.recorded"
    topic_dead_letter: str = "subscription.dead-letter"
    # Events per relay transaction: each batch waits for the broker's acknowledgements
    # once, so bigger batches publish faster (1,000: 0.32 of a bare producer, 5,000: 0.43).
    outbox_batch_size: int = Field(default=5000, ge=1)
    # Due rows per scheduler transaction (three run at once). A batch holds its rows'
    # locks while its charges run, 16 at a time: with a remote processor, a smaller batch
    # keeps a user's own change from waiting long behind a renewal.
    scheduler_batch_size: int = Field(default=2000, ge=1, le=20_000)
    # The event log (the outbox's rows, once published) is kept this long; 0: forever.
    event_retention_days: int = Field(default=400, ge=0)
    # Outbound webhooks: a 2xx within the timeout is delivered; the waits before each
    # attempt (the first is immediate); an endpoint whose every delivery failed this long
    # is disabled.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_seconds: str = "0,5,300,1800,7200,18000,36000,36000"
    webhook_disable_after_days: int = Field(default=5, ge=1)
    # POSTs in flight to one endpoint (per worker): a receiver is not flooded, and a
    # slow one holds only its own slots.
    webhook_concurrency_per_endpoint: int = Field(default=4, ge=1, le=64)
    # Production only: endpoints may then point at loopback, private or link-local
    # addresses (a receiver inside your own network).
    webhook_allow_private: bool = False
    # /admin/health says "degraded" when events or lifecycle work wait longer than this.
    stall_alert_seconds: float = Field(default=120.0, gt=0)
    metrics_token: str | None = Field(default=None, min_length=16)  # bearer for /metrics

    # Rate limits (the `limits` library's notation): mutations per user; failed
    # authentication, websocket connects and webhook posts per client address.
    rate_limits: bool = True
    rate_limit_mutations: str = "30/10 seconds"
    rate_limit_auth_failures: str = "30/minute"
    rate_limit_websocket_connects: str = "120/minute"
    rate_limit_webhooks: str = "1200/minute"

    test_clock: bool = False
    event_source: str = "urn:subscription-service"

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def gateway(self) -> GatewayKind:
        """The payment gateway in use (`auto` resolved)."""
        if self.payment_gateway is not GatewayKind.AUTO:
            return self.payment_gateway
        return GatewayKind.STRIPE if self.stripe_api_key else GatewayKind.LOCAL

    @property
    def redis_prefix(self) -> str:
        """`REDIS_NAMESPACE`, or one derived from the database this deployment uses, so
        two deployments on two databases never share a key by default."""
        if self.redis_namespace:
            return self.redis_namespace
        assert self.database_url, "resolve the database URL before naming Redis keys"
        parts = urlsplit(self.database_url)
        # An embedded database is reached through a socket directory in the query string
        # (`?host=/path/.data/run`): that directory tells two such deployments apart.
        query = parse_qs(parts.query)
        host = parts.hostname or ",".join(query.get("host", [])) or "localhost"
        port = parts.port or ",".join(query.get("port", [])) or 5432
        where = f"{host}:{port}{parts.path}"
        name = parts.path.rsplit("/", 1)[-1][:32] or "db"
        return f"subsvc:{name}:{hashlib.sha256(where.encode()).hexdigest()[:8]}"

    def topic_for(self, event_type: str) -> str:
        return self.topic_overrides.get(event_type, event_type)

    @property
    def hs256_secret(self) -> str | None:
        """The HMAC secret, if HS256 tokens are accepted at all."""
        if self.jwt_secret is not None:
            return self.jwt_secret
        return None if self.is_production else DEV_JWT_SECRET

    @field_validator(
        "rate_limit_mutations",
        "rate_limit_auth_failures",
        "rate_limit_websocket_connects",
        "rate_limit_webhooks",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as error:
            raise ValueError(f"not a rate limit like '30/10 seconds': {value!r}") from error
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.is_production:
            if self.jwt_secret == DEV_JWT_SECRET:
                raise ValueError("production refuses the development JWT secret: set JWT_SECRET")
            if self.hs256_secret is None and not (self.jwt_public_key or self.jwt_jwks_url):
                raise ValueError("production needs JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL")
            if self.test_clock:
                raise ValueError("TEST_CLOCK is refused in production")
        if self.gateway is GatewayKind.BILLING_ENGINE and not self.billing_engine_url:
            raise ValueError("PAYMENT_GATEWAY=billing_engine needs BILLING_ENGINE_URL")
        if self.gateway is GatewayKind.STRIPE and not self.stripe_api_key:
            raise ValueError("PAYMENT_GATEWAY=stripe needs STRIPE_API_KEY")
        if self.jwt_secret is not None and len(self.jwt_secret) < 32:
            raise ValueError("JWT_SECRET must be at least 32 characters")
        return self
