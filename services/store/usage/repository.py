"""The ORM side of usage: meters, plan quotas, counters read and locked, overages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Meter, PlanQuota, UsageCounter, UsageEvent, UsageUniqueValue


@dataclass(frozen=True)
class Overage:
    meter_key: str
    meter_name: str
    unit: str
    included_units: int
    used: int
    over: int  # past the included units and what packs covered
    unit_price_cents: int


class UsageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Meter) -> None:
        self.session.add(row)

    async def meter(self, key: str) -> Meter | None:
        return await self.session.scalar(select(Meter).where(Meter.key == key))

    async def meters(self, *, include_archived: bool = False) -> Sequence[Meter]:
        query = select(Meter).order_by(Meter.key)
        if not include_archived:
            query = query.where(Meter.archived.is_(False))
        return (await self.session.scalars(query)).all()

    async def quota(self, plan_id: uuid.UUID, meter_id: uuid.UUID) -> PlanQuota | None:
        return await self.session.get(PlanQuota, (plan_id, meter_id))

    async def quotas_of_plans(
        self, plan_ids: Sequence[uuid.UUID]
    ) -> Sequence[tuple[PlanQuota, Meter]]:
        rows = await self.session.execute(
            select(PlanQuota, Meter)
            .join(Meter, Meter.id == PlanQuota.meter_id)
            .where(PlanQuota.plan_id.in_(plan_ids), Meter.archived.is_(False))
            .order_by(Meter.key)
        )
        return [(quota, meter) for quota, meter in rows]

    async def set_quota(self, values: dict[str, Any]) -> None:
        statement = insert(PlanQuota).values(values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["plan_id", "meter_id"],
                set_={k: v for k, v in values.items() if k not in ("plan_id", "meter_id")},
            )
        )

    async def claim_event(self, values: dict[str, Any]) -> bool:
        """Record an event by its id; False when the id is known (a concurrent twin
        is waited for: its answer is then readable)."""
        statement = insert(UsageEvent).values(values).on_conflict_do_nothing()
        inserted = await self.session.execute(statement.returning(UsageEvent.event_id))
        return inserted.scalar() is not None

    async def event(self, user_id: str, event_id: str) -> UsageEvent | None:
        return await self.session.get(UsageEvent, (user_id, event_id), populate_existing=True)

    async def answer_event(
        self, user_id: str, event_id: str, counted: bool, answer: dict[str, Any]
    ) -> None:
        await self.session.execute(
            update(UsageEvent)
            .where(UsageEvent.user_id == user_id, UsageEvent.event_id == event_id)
            .values(counted=counted, answer=answer)
        )

    async def lock_counter(
        self, user_id: str, meter_id: uuid.UUID, period: tuple[datetime, datetime]
    ) -> tuple[int, int]:
        """The counter's (used, pack units), its row created if new and locked until the
        transaction ends: counts that draw from packs go one at a time."""
        new = insert(UsageCounter).values(
            user_id=user_id, meter_id=meter_id, period_start=period[0], period_end=period[1], used=0
        )
        locking = new.on_conflict_do_update(
            index_elements=["user_id", "meter_id", "period_start"],
            set_={"used": UsageCounter.__table__.c.used},
        ).returning(UsageCounter.used, UsageCounter.pack_units)
        used, pack_units = (await self.session.execute(locking)).one()
        return int(used), int(pack_units)

    async def set_counter(
        self, user_id: str, meter_id: uuid.UUID, period_start: datetime, used: int, pack_units: int
    ) -> None:
        await self.session.execute(
            update(UsageCounter)
            .where(
                UsageCounter.user_id == user_id,
                UsageCounter.meter_id == meter_id,
                UsageCounter.period_start == period_start,
            )
            .values(used=used, pack_units=pack_units)
        )

    async def counter(
        self, user_id: str, meter_id: uuid.UUID, period_start: datetime
    ) -> tuple[int, int]:
        """(used, of it covered by packs) in the period; zeros before any usage."""
        found = (
            await self.session.execute(
                select(UsageCounter.used, UsageCounter.pack_units).where(
                    UsageCounter.user_id == user_id,
                    UsageCounter.meter_id == meter_id,
                    UsageCounter.period_start == period_start,
                )
            )
        ).first()
        return (int(found[0]), int(found[1])) if found else (0, 0)

    async def first_sighting(
        self, user_id: str, meter_id: uuid.UUID, period_start: datetime, value: str
    ) -> bool:
        """Whether a UNIQUE_COUNT value is new in the period (and now remembered)."""
        statement = (
            insert(UsageUniqueValue)
            .values(user_id=user_id, meter_id=meter_id, period_start=period_start, value=value)
            .on_conflict_do_nothing()
            .returning(UsageUniqueValue.value)
        )
        return (await self.session.execute(statement)).scalar() is not None

    async def overages(
        self, periods: Sequence[tuple[str, uuid.UUID, datetime]]
    ) -> dict[tuple[str, datetime], list[Overage]]:
        """Usage past the included units of soft-limited quotas, for (user id, plan id,
        period start) triples, in one statement: what a renewal bills."""
        if not periods:
            return {}
        keys = tuple_(UsageCounter.user_id, PlanQuota.plan_id, UsageCounter.period_start)
        rows = await self.session.execute(
            select(
                UsageCounter.user_id,
                UsageCounter.period_start,
                Meter.key,
                Meter.name,
                Meter.unit,
                PlanQuota.included_units,
                UsageCounter.used,
                UsageCounter.used - PlanQuota.included_units - UsageCounter.pack_units,
                PlanQuota.overage_unit_price_cents,
            )
            .join(Meter, Meter.id == UsageCounter.meter_id)
            .join(PlanQuota, PlanQuota.meter_id == UsageCounter.meter_id)
            .where(
                keys.in_(periods),
                PlanQuota.hard_limit.is_(False),
                PlanQuota.included_units.is_not(None),
                UsageCounter.used > PlanQuota.included_units + UsageCounter.pack_units,
                PlanQuota.overage_unit_price_cents > 0,
            )
            .order_by(Meter.key)
        )
        found: dict[tuple[str, datetime], list[Overage]] = {}
        for user_id, start, key, name, unit, included, used, over, price in rows:
            found.setdefault((user_id, start), []).append(
                Overage(key, name, unit, int(included or 0), int(used), int(over), int(price))
            )
        return found
