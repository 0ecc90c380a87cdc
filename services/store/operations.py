"""SQL for what operators watch: worker heartbeats, backlogs, the test clock's offset."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import ClockOffset, OutboxEvent, WorkerHeartbeat


class OperationsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_heartbeats(self, worker: str, beats: Mapping[str, datetime]) -> None:
        rows = [{"loop": loop, "worker": worker, "beat_at": at} for loop, at in beats.items()]
        statement = insert(WorkerHeartbeat).values(rows)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["loop", "worker"], set_={"beat_at": statement.excluded.beat_at}
            )
        )

    async def forget_heartbeats_before(self, moment: datetime) -> None:
        await self.session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < moment))

    async def latest_heartbeats(self) -> dict[str, datetime]:
        """Each loop's latest beat, whichever worker ran it."""
        rows = await self.session.execute(
            select(WorkerHeartbeat.loop, func.max(WorkerHeartbeat.beat_at)).group_by(
                WorkerHeartbeat.loop
            )
        )
        return {loop: at for loop, at in rows}

    async def unpublished_events(self) -> tuple[int, datetime | None]:
        """How many outbox events wait for the relay, and when the oldest was written."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(OutboxEvent.created_at)).where(
                    OutboxEvent.published_at.is_(None)
                )
            )
        ).one()
        return int(row[0]), row[1]

    async def clock_offset(self) -> timedelta | None:
        found = await self.session.scalar(select(ClockOffset.offset_microseconds))
        return None if found is None else timedelta(microseconds=found)

    async def save_clock_offset(self, offset: timedelta) -> None:
        microseconds = offset // timedelta(microseconds=1)
        statement = insert(ClockOffset).values(id=1, offset_microseconds=microseconds)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["id"], set_={"offset_microseconds": microseconds}
            )
        )
