"""SQL for quota packs: the packs a user bought and the units left in them. Units are
drawn with the rows locked, in the order they expire, so two draws never spend the
same unit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from models import QuotaPack, QuotaPackUnits


def _usable(user_id: str, now: datetime) -> ColumnElement[bool]:
    return and_(
        QuotaPackUnits.user_id == user_id,
        QuotaPackUnits.active.is_(True),
        QuotaPackUnits.used_units < QuotaPackUnits.units,
        or_(QuotaPackUnits.expires_at.is_(None), QuotaPackUnits.expires_at > now),
    )


class PackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, pack: QuotaPack) -> None:
        self.session.add(pack)

    async def by_id(self, pack_id: uuid.UUID, *, lock: bool = False) -> QuotaPack | None:
        query = (
            select(QuotaPack)
            .where(QuotaPack.id == pack_id)
            .options(selectinload(QuotaPack.plan), selectinload(QuotaPack.units))
        )
        if lock:
            query = query.with_for_update(of=QuotaPack)
        return await self.session.scalar(query)

    async def by_ids_for_update(self, pack_ids: set[uuid.UUID]) -> dict[uuid.UUID, QuotaPack]:
        if not pack_ids:
            return {}
        query = (
            select(QuotaPack)
            .where(QuotaPack.id.in_(pack_ids))
            .options(selectinload(QuotaPack.plan), selectinload(QuotaPack.units))
            .with_for_update(of=QuotaPack)
        )
        return {pack.id: pack for pack in await self.session.scalars(query)}

    async def of_user(self, user_id: str, limit: int = 100) -> Sequence[QuotaPack]:
        query = (
            select(QuotaPack)
            .where(QuotaPack.user_id == user_id)
            .options(selectinload(QuotaPack.plan), selectinload(QuotaPack.units))
            .order_by(QuotaPack.created_at.desc())
            .limit(limit)
        )
        return (await self.session.scalars(query)).all()

    async def usable_for_update(
        self, user_id: str, meter_id: uuid.UUID, now: datetime
    ) -> Sequence[QuotaPackUnits]:
        """Units a draw may take, soonest to expire first (never-expiring ones last)."""
        query = (
            select(QuotaPackUnits)
            .where(QuotaPackUnits.meter_id == meter_id, _usable(user_id, now))
            .order_by(QuotaPackUnits.expires_at.asc().nulls_last(), QuotaPackUnits.pack_id)
            .with_for_update()
        )
        return (await self.session.scalars(query)).all()

    async def draw(self, drawn: Sequence[tuple[QuotaPackUnits, int]]) -> None:
        for row, units in drawn:
            await self.session.execute(
                update(QuotaPackUnits)
                .where(
                    QuotaPackUnits.pack_id == row.pack_id,
                    QuotaPackUnits.meter_id == row.meter_id,
                )
                .values(used_units=QuotaPackUnits.used_units + units)
            )

    async def remaining_by_meter(self, user_id: str, now: datetime) -> dict[uuid.UUID, int]:
        """Units left in the user's usable packs, per meter."""
        query = (
            select(
                QuotaPackUnits.meter_id,
                func.sum(QuotaPackUnits.units - QuotaPackUnits.used_units),
            )
            .where(_usable(user_id, now))
            .group_by(QuotaPackUnits.meter_id)
        )
        return {meter_id: int(left) for meter_id, left in await self.session.execute(query)}
