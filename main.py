"""Composition root and command line.

python main.py serve [--host H] [--port P]   run the API (embedded defaults if unset)
python main.py worker                        run the background lifecycle worker
python main.py migrate                       apply migrations and seed the default plans
python main.py audit                         check every money invariant (exit 1 if broken)
python main.py stop                          stop the embedded PostgreSQL of EMBEDDED_DATA_DIR
python main.py token --user ID [--admin] [--service]   print a development JWT
python main.py billing-engine [--port 50051] [--kafka H:P]   a stand-in Billing Engine
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

from redis.asyncio import BlockingConnectionPool, Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from resolvers.graphql.execution.lean import LeanGraphQL
from resolvers.graphql.view import GraphQLView
from resolvers.http import operational, pages, rest, webhooks
from resolvers.http.middleware import Metrics, RequestLimits
from schema.build import build_schema, document_cache
from services.app.migrate import migrate_settings, resolve_database
from services.app.worker import background_loops, run_worker
from services.cache.access_cache import AccessCache, MemoryStore, RedisStore
from services.cache.gate import QuotaGate
from services.collection import test_clock
from services.gateway.base import PaymentGateway
from services.gateway.local import LocalGateway
from services.messaging.kafka import KafkaConsumerLoop, KafkaPublisher
from services.messaging.live import (
    LiveFeed,
    LiveHub,
    LocalFeed,
    QuotaPushes,
    RedisFeed,
    listen_to_redis,
    live_channel,
)
from services.messaging.publisher import InProcessBus, OutboundMessage, Publisher
from services.platform.auth import Role, TokenVerifier, mint_token
from services.platform.clock import Clock, OffsetClock, SystemClock
from services.platform.config import GatewayKind, Settings
from services.platform.deps import Deps
from services.platform.heap import WORKER_YOUNG_THRESHOLD, settle_heap
from services.platform.rate_limits import RateLimiter
from services.store.db import close_plain_pools, make_engine, make_session_factory
from services.usage.group_commit import group_commit

log = logging.getLogger("subscription-service")


def build_gateway(settings: Settings) -> PaymentGateway:
    if settings.gateway is GatewayKind.STRIPE:
        from services.gateway.stripe_gateway import StripeGateway

        assert settings.stripe_api_key
        return StripeGateway(
            settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            timeout_seconds=settings.stripe_timeout_seconds,
        )
    if settings.gateway is GatewayKind.BILLING_ENGINE:
        from services.gateway.billing_engine import BillingEngineGateway, channel_for

        url = settings.billing_engine_url
        assert url
        return BillingEngineGateway(
            lambda: channel_for(
                url,
                tls=settings.billing_engine_tls,
                ca_file=settings.billing_engine_ca_file,
                cert_file=settings.billing_engine_cert_file,
                key_file=settings.billing_engine_key_file,
            ),
            settings.billing_engine_timeout_seconds,
        )
    return LocalGateway()


def build_publisher(settings: Settings) -> Publisher:
    if settings.kafka_bootstrap_servers:
        return KafkaPublisher(
            settings.kafka_bootstrap_servers,
            settings.kafka_client_id,
            idempotent=settings.kafka_idempotent_producer,
        )
    return InProcessBus()


def build_consumer(deps: Deps, publisher: Publisher) -> KafkaConsumerLoop | None:
    """Consumers for payment results and commands (Kafka only); poison goes to the
    dead-letter topic through the relay's publisher."""
    settings = deps.settings
    if not settings.kafka_bootstrap_servers:
        return None
    from services.app.inbound import consumed_topics, make_handler
    from services.messaging.kafka import KafkaConsumerLoop

    async def dead_letter(key: str | None, record: dict[str, object]) -> None:
        await publisher.publish([OutboundMessage.of(settings.topic_dead_letter, key or "", record)])

    return KafkaConsumerLoop(
        settings.kafka_bootstrap_servers,
        settings.kafka_consumer_group,
        consumed_topics(deps),
        make_handler(deps, dead_letter),
    )


def build_redis(settings: Settings, *, for_pubsub: bool = False) -> Redis | None:
    """Tight timeouts and no retries: a slow Redis is treated as a missing one."""
    if not settings.redis_url:
        return None
    timeout = None if for_pubsub else settings.redis_timeout_seconds
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout_seconds * 10,  # waiting for a free connection
        socket_timeout=timeout,
        socket_connect_timeout=settings.redis_timeout_seconds * 10,
        retry_on_timeout=False,
        retry=None,
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes both


def build_cache(settings: Settings, redis: Redis | None) -> AccessCache | None:
    if not settings.access_cache:
        return None
    return AccessCache(RedisStore(redis, settings.redis_prefix) if redis else MemoryStore())


def build_clock(settings: Settings) -> Clock:
    return OffsetClock() if settings.test_clock else SystemClock()


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    gateway: PaymentGateway | None = None,
    publisher: Publisher | None = None,
    with_worker: bool = False,
) -> Starlette:
    """The ASGI app. `settings.database_url` must be resolved (see `resolve_database`).
    `with_worker` runs the background loops inside this process (the embedded default)."""
    assert settings.database_url, "resolve the database URL before building the app"
    engine = make_engine(settings.database_url, settings.db_pool_size)
    redis = build_redis(settings)
    hub = LiveHub()
    # With Redis every API process hears every change; without it, only this process.
    live: LiveFeed = (
        RedisFeed(redis, live_channel(settings.redis_prefix)) if redis else LocalFeed(hub)
    )
    deps = Deps(
        settings=settings,
        session_factory=make_session_factory(engine),
        clock=clock or build_clock(settings),
        gateway=gateway or build_gateway(settings),
        cache=build_cache(settings, redis),
        quota_gate=QuotaGate(redis, settings.redis_prefix) if redis else None,
        live=live,
        quota_pushes=QuotaPushes(live),
    )
    if settings.usage_group_commit:
        deps.usage_commits = group_commit(deps)
    verifier = TokenVerifier(settings)
    limiter = RateLimiter(settings)
    documents = document_cache(settings)
    schema = build_schema(settings, documents)
    graphql = GraphQLView(
        schema,
        deps,
        verifier,
        hub,
        limiter,
        graphql_ide=None if settings.is_production else "graphiql",
        allow_queries_via_get=False,  # GET would let a link trigger work with a cookie-less token
        keep_alive=True,
        keep_alive_interval=settings.websocket_keepalive_seconds,
        connection_init_wait_timeout=timedelta(seconds=settings.websocket_init_timeout_seconds),
        max_subscriptions_per_connection=settings.websocket_max_subscriptions,
    )
    lean = LeanGraphQL(
        graphql, schema, documents, persisted_bytes=settings.graphql_document_cache_bytes // 4
    )
    publisher = publisher or build_publisher(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = []
        await test_clock.restore_offset(deps)
        if deps.quota_gate is not None:
            await deps.quota_gate.forget_all()
        listener = build_redis(settings, for_pubsub=True)
        if listener is not None:
            channel = live_channel(settings.redis_prefix)
            tasks.append(asyncio.ensure_future(listen_to_redis(listener, hub, stop, channel)))
        if with_worker:
            consumer = build_consumer(deps, publisher)
            loops = background_loops(deps, publisher, stop, consumer, live)
            tasks += [asyncio.ensure_future(loop) for loop in loops]
        yield
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if isinstance(publisher, KafkaPublisher):
            await publisher.close()
        close_gateway = getattr(deps.gateway, "close", None)  # the engine's gRPC channel
        if close_gateway is not None:
            await close_gateway()
        for client in (redis, listener):
            if client is not None:
                await client.aclose()
        await close_plain_pools()
        await engine.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", lean, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *rest.routes,
            *webhooks.routes,
            *operational.routes,
            *pages.routes,
        ],
        middleware=[
            Middleware(Metrics),
            Middleware(
                RequestLimits,
                max_body_bytes=settings.max_body_bytes,
                body_limits={"/api/v1/usage": settings.usage_batch_max_bytes},
                max_header_bytes=settings.max_header_bytes,
                max_headers=settings.max_headers,
                body_timeout_seconds=settings.body_timeout_seconds,
            ),
        ],
        lifespan=lifespan,
    )
    app.state.deps = deps
    app.state.verifier = verifier
    app.state.publisher = publisher
    app.state.redis = redis
    app.state.hub = hub
    app.state.limiter = limiter
    return app


def serve(settings: Settings, host: str, port: int, with_worker: bool) -> None:
    import uvicorn

    embedded = settings.database_url is None
    settings = migrate_settings(settings)
    # On the embedded default one process does everything; otherwise run `worker` apart.
    app = create_app(settings, with_worker=with_worker or embedded)
    python = os.path.relpath(sys.executable)
    if not settings.is_production:
        print(
            f"\nGraphiQL:  http://{host}:{port}/graphql\n"
            f"Console:   http://{host}:{port}/console   (admin; 'sign in as' works here)\n"
            f"Portal:    http://{host}:{port}/portal\n"
            f"Token:     {python} main.py token --user alice      (add --admin for admin)\n"
            "           send it as 'Authorization: Bearer <token>'"
        )
        if embedded:
            print(
                f"Stop:      Ctrl-C stops the API; the embedded PostgreSQL keeps running for a\n"
                f"           fast restart: {python} main.py stop   stops it too"
            )
        print()
    if not (with_worker or embedded):
        log.warning(
            "no background worker in this process: run `%s main.py worker` beside it (or "
            "serve --with-worker), or renewals, Kafka events and live updates stop",
            python,
        )
    settle_heap()
    # Live updates are small JSON: per-message compression would cost ~64 KB of zlib
    # state per websocket for nothing.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=settings.access_log,
        proxy_headers=True,
        ws_per_message_deflate=False,
        # Frames past this are refused by the protocol (1009); smaller messages over
        # MAX_BODY_BYTES are refused by the view (4413) before they are parsed.
        ws_max_size=settings.max_body_bytes * 2,
    )


def worker(settings: Settings) -> None:
    settings = migrate_settings(settings)
    app = create_app(settings)
    deps, publisher, redis = app.state.deps, app.state.publisher, app.state.redis
    # Live pushes from a separate worker reach API processes only through Redis.
    live = deps.live if redis else None
    consumer = build_consumer(deps, publisher)
    settle_heap(WORKER_YOUNG_THRESHOLD)  # batches of thousands of rows stay alive
    asyncio.run(run_worker(deps, publisher, consumer, live))


def audit(settings: Settings) -> int:
    """Check every money invariant over the whole database (services/reads/audit.py):
    one line per broken invariant with the rows breaking it; 1 when any is broken."""
    from services.reads.audit import CHECKS, audit_database

    settings = resolve_database(settings)
    assert settings.database_url is not None
    broken = asyncio.run(audit_database(settings.database_url))
    for line in broken:
        print(line)
    print(f"audit: {len(CHECKS) - len(broken)} of {len(CHECKS)} invariants hold")
    return 1 if broken else 0


def stop(settings: Settings) -> None:
    from services.platform.embedded_db import stop_embedded

    if stop_embedded(settings.embedded_data_dir):
        print(f"stopped the embedded PostgreSQL in {settings.embedded_data_dir}")
    else:
        print(f"no embedded PostgreSQL runs in {settings.embedded_data_dir}")


def token(settings: Settings, user: str, admin: bool, service: bool) -> None:
    roles = [role for role, wanted in ((Role.ADMIN, admin), (Role.SERVICE, service)) if wanted]
    print(mint_token(settings, user, roles, SystemClock().now(), timedelta(hours=24)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="main.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the API server")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8000)
    serve_cmd.add_argument(
        "--with-worker",
        action="store_true",
        help="also run the background loops here (always on with the embedded database)",
    )
    commands.add_parser("worker", help="run the lifecycle worker")
    commands.add_parser("migrate", help="apply migrations and seed default plans")
    commands.add_parser("stop", help="stop the embedded PostgreSQL of EMBEDDED_DATA_DIR")
    commands.add_parser("audit", help="check every money invariant over the database")
    engine_cmd = commands.add_parser(
        "billing-engine", help="serve a stand-in Billing Engine (gRPC) with test cards"
    )
    engine_cmd.add_argument("--port", type=int, default=50051)
    engine_cmd.add_argument("--kafka", help="bootstrap servers for payment.processed events")
    token_cmd = commands.add_parser("token", help="print a development JWT")
    token_cmd.add_argument("--user", required=True)
    token_cmd.add_argument("--admin", action="store_true")
    token_cmd.add_argument("--service", action="store_true")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings()
    if args.command == "serve":
        serve(settings, args.host, args.port, args.with_worker)
    elif args.command == "worker":
        worker(settings)
    elif args.command == "migrate":
        migrate_settings(settings)
        print("database is at the newest migration")
    elif args.command == "stop":
        stop(settings)
    elif args.command == "audit":
        sys.exit(audit(settings))
    elif args.command == "billing-engine":
        from services.app.engine_standin import run_forever

        asyncio.run(run_forever(args.port, args.kafka, settings.topic_payment_processed))
    elif args.command == "token":
        token(settings, args.user, args.admin, args.service)


if __name__ == "__main__":
    main()
