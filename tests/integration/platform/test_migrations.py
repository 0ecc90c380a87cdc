"""Alembic: upgrade and downgrade on an empty database, and models match migrations."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import models
from services.app import migrate


async def _run(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _tables(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


def test_upgrade_then_downgrade_on_an_empty_database(database_url):
    base, _, _ = database_url.partition("?")
    server = base.rsplit("/", 1)[0]
    name = f"subsvc_migrations_{uuid.uuid4().hex[:8]}"
    asyncio.run(_run(f"{server}/postgres", f'CREATE DATABASE "{name}"'))
    url = f"{server}/{name}"
    try:
        migrate.upgrade(url)
        assert {"subscriptions", "outbox", "invoices", "plans"} <= asyncio.run(_tables(url))
        migrate.downgrade(url, "base")
        assert asyncio.run(_tables(url)) == {"alembic_version"}
        migrate.upgrade(url)  # and back up again
        assert "subscription_history" in asyncio.run(_tables(url))
    finally:
        asyncio.run(_run(f"{server}/postgres", f'DROP DATABASE "{name}" WITH (FORCE)'))


def test_models_and_migrations_agree(database_url):
    async def diff() -> list[object]:
        from sqlalchemy.ext.asyncio import create_async_engine

        from services.store.db import async_url

        engine = create_async_engine(async_url(database_url))
        async with engine.connect() as connection:
            result = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync), models.Base.metadata
                )
            )
        await engine.dispose()
        return list(result)

    assert asyncio.run(diff()) == []


def test_head_revision_is_recorded(database_url):
    async def recorded() -> str:
        connection = await asyncpg.connect(database_url)
        try:
            return str(await connection.fetchval("SELECT version_num FROM alembic_version"))
        finally:
            await connection.close()

    assert asyncio.run(recorded()) == migrate.head_revision()
