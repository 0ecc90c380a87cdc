"""Schema migrations (Alembic) and the default catalog, for `migrate` and `serve`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from services.platform.clock import Clock, SystemClock
from services.platform.config import Settings
from services.pricing.seed import seed_plans
from services.store.db import async_url, make_engine, make_session_factory

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    config = Config(toml_file=ROOT / "pyproject.toml")
    config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Apply every migration. Runs its own event loop: call it outside one."""
    command.upgrade(alembic_config(url), "head")


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("postgresql://x/y")).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def seed(url: str, clock: Clock) -> int:
    engine = make_engine(url, pool_size=1)
    try:
        async with make_session_factory(engine)() as session:
            return await seed_plans(session, clock.now())
    finally:
        await engine.dispose()


def migrate_and_seed(url: str, clock: Clock) -> int:
    upgrade(url)
    return asyncio.run(seed(url, clock))


def resolve_database(settings: Settings) -> Settings:
    """With no DATABASE_URL, start the embedded PostgreSQL and point at it."""
    if settings.database_url:
        return settings
    from services.platform.embedded_db import ensure_database, start_embedded

    print(f"DATABASE_URL is unset: starting embedded PostgreSQL in {settings.embedded_data_dir}")
    admin_url = start_embedded(settings.embedded_data_dir)
    url = asyncio.run(ensure_database(admin_url))
    return settings.model_copy(update={"database_url": url})


def migrate_settings(settings: Settings) -> Settings:
    """Resolve the database (embedded when unset), migrate it and seed the plans."""
    settings = resolve_database(settings)
    assert settings.database_url is not None
    created = migrate_and_seed(settings.database_url, SystemClock())
    if created:
        print(f"seeded {created} default plan(s)")
    return settings
