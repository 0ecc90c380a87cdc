"""Raw asyncpg statements on a session's connection belong to the session's transaction."""

from __future__ import annotations

from services.store.db import session_driver
from tests.conftest import scalar


async def test_a_raw_statement_first_in_a_session_is_rolled_back_with_it(deps):
    async with deps.uow() as uow:
        driver = await session_driver(uow.session)  # nothing ran through SQLAlchemy yet
        assert driver.is_in_transaction()
        await driver.execute("INSERT INTO invoice_counters (name, last_number) VALUES ('t', 7)")
        await uow.rollback()
    assert await scalar(deps, "SELECT count(*) FROM invoice_counters WHERE name = 't'") == 0
