"""Shared fixtures: a fresh PostgreSQL database per test session (the machine's server, or
an embedded one when none answers), migrated with Alembic, cleaned between tests."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import uvicorn
from sqlalchemy import text

from main import create_app
from services.app import migrate
from services.gateway.local import LocalGateway
from services.platform.clock import FrozenClock
from services.platform.config import Settings
from services.platform.deps import Deps
from services.pricing.seed import seed_plans
from services.reads.audit import violations
from services.store.db import make_engine, make_session_factory
from tests.ports import free_port

MACHINE_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TABLES = (
    "subscription_history, invoice_lines, payments, invoices, subscriptions, pricing_records, "
    "plans, payment_methods, payment_customers, outbox, processed_messages, idempotency_keys, "
    "invoice_counters, broadcasts, worker_heartbeats, test_clock, test_clock_customers, "
    "test_clocks, retired_numbers, charge_deferrals, "
    "usage_unique_values, usage_events, usage_counters, plan_quotas, quota_pack_units, "
    "credit_notes, refunds, credit_ledger, credit_balances, subscription_discounts, "
    "promotion_codes, coupons, "
    "checkout_sessions, quota_packs, meters, webhook_attempts, webhook_deliveries, "
    "webhook_endpoints"
)


def _admin_url(tmp_root: Path) -> str:
    """The machine's PostgreSQL if it answers, else an embedded one started here."""
    url = os.environ.get("TEST_DATABASE_URL", MACHINE_POSTGRES)

    async def reachable() -> bool:
        try:
            connection = await asyncpg.connect(url, timeout=3)
        except (OSError, asyncpg.PostgresError):
            return False
        await connection.close()
        return True

    if asyncio.run(reachable()):
        return url
    from services.platform.embedded_db import start_embedded

    return start_embedded(tmp_root / "embedded-postgres")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    admin_url = _admin_url(tmp_path_factory.mktemp("pg"))
    name = f"subsvc_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    base, _, query = admin_url.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    migrate.upgrade(url)
    yield url
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        environment="development",
        stripe_webhook_secret=WEBHOOK_SECRET,
        # Short enough for the test of a connection that never initialises (closed within
        # 5 s); long enough that 50 connecting at once on a busy 2-core CI do not time out.
        websocket_init_timeout_seconds=3.0,
        websocket_max_subscriptions=5,
        # Every test client shares one address: one test opens a thousand websockets,
        # several send bad tokens on purpose. tests/e2e/http/test_rate_limits.py runs a
        # server of its own with the defaults.
        rate_limit_websocket_connects="5000/minute",
        rate_limit_auth_failures="1000/minute",
        price_notice_days=0,  # price moves may be dated now; tests/.../test_prices.py checks 30
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[object]:
    assert settings.database_url
    engine = make_engine(settings.database_url, pool_size=20)
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def gateway() -> LocalGateway:
    return LocalGateway()


@pytest.fixture
async def deps(
    settings: Settings, engine, clock: FrozenClock, gateway: LocalGateway
) -> AsyncIterator[Deps]:
    """Services on a clean database with the default plans seeded. Whatever the test
    wrote must pass the money audit (main.py audit) when it ends."""
    factory = make_session_factory(engine)
    async with factory() as session:
        await session.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        await session.commit()
        await seed_plans(session, clock.now())
    yield Deps(settings=settings, session_factory=factory, clock=clock, gateway=gateway)
    broken = [v.line() for v in await violations(factory)]
    assert broken == [], "the money audit fails after this test:\n" + "\n".join(broken)


async def scalar(deps: Deps, sql: str, **params: object) -> object:
    async with deps.session_factory() as session:
        return await session.scalar(text(sql), params)


async def execute(deps: Deps, sql: str, **params: object) -> None:
    """Run a statement and commit it (test setup that bypasses the services)."""
    async with deps.session_factory() as session:
        await session.execute(text(sql), params)
        await session.commit()


class LiveServer:
    """A real uvicorn serving the app on a free port, in a thread of this process, so tests
    can share the clock and gateway objects with it."""

    def __init__(self, settings: Settings, clock: FrozenClock, gateway: LocalGateway) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings, clock=clock, gateway=gateway)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def server_loop(self) -> asyncio.AbstractEventLoop:
        return self.server.servers[0].get_loop()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture(scope="session")
def live_gateway() -> LocalGateway:
    return LocalGateway()


@pytest.fixture(scope="session")
def live_server(
    settings: Settings, live_clock: FrozenClock, live_gateway: LocalGateway
) -> Iterator[LiveServer]:
    server = LiveServer(settings, live_clock, live_gateway)
    server.start()
    yield server
    server.stop()
