"""SQL for coupons, promotion codes and subscription discounts. A redemption is one
guarded increment per counter (the code's and the coupon's): the row lock serializes
concurrent redemptions and the guard refuses one past the limit. Every redemption
keeps its `subscription_discounts` row, so the counters always equal the rows."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from models import Coupon, PromotionCode, Subscription, SubscriptionDiscount
from services.subscriptions.state import Status

_LIVE = SubscriptionDiscount.cycles_left.is_distinct_from(0)


class DiscountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Coupon | PromotionCode | SubscriptionDiscount) -> None:
        self.session.add(row)

    async def coupon(self, code: str) -> Coupon | None:
        return await self.session.scalar(select(Coupon).where(Coupon.code == code))

    async def coupons(self, *, include_archived: bool) -> Sequence[Coupon]:
        query = select(Coupon).order_by(Coupon.created_at.desc(), Coupon.code)
        if not include_archived:
            query = query.where(Coupon.archived.is_(False))
        return (await self.session.scalars(query)).all()

    async def promotion_codes(self) -> Sequence[PromotionCode]:
        """Every code, newest first, with its coupon (the console's list)."""
        query = select(PromotionCode).options(selectinload(PromotionCode.coupon))
        return (await self.session.scalars(query.order_by(PromotionCode.created_at.desc()))).all()

    async def promotion_code(self, code: str) -> PromotionCode | None:
        return await self.session.scalar(
            select(PromotionCode)
            .where(PromotionCode.code == code)
            .options(selectinload(PromotionCode.coupon))
        )

    async def take_redemption(self, code_id: uuid.UUID, coupon_id: uuid.UUID) -> bool:
        """Count one redemption of the code and of its coupon; False (nothing counted
        once the transaction rolls back) when either is used up."""
        for table, key in ((PromotionCode, code_id), (Coupon, coupon_id)):
            taken = await self.session.scalar(
                update(table)
                .where(
                    table.id == key,
                    or_(
                        table.max_redemptions.is_(None),
                        table.times_redeemed < table.max_redemptions,
                    ),
                )
                .values(times_redeemed=table.times_redeemed + 1)
                .returning(table.id)
            )
            if taken is None:
                return False
        return True

    async def redemptions_by(self, user_id: str, coupon_id: uuid.UUID) -> int:
        """The customer's redemptions of the coupon, on any subscription of theirs that
        got past checkout (a declined first payment does not use one up)."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(SubscriptionDiscount)
            .join(Subscription, Subscription.id == SubscriptionDiscount.subscription_id)
            .where(
                SubscriptionDiscount.user_id == user_id,
                SubscriptionDiscount.coupon_id == coupon_id,
                Subscription.status != Status.FAILED,
            )
        )
        return int(count or 0)

    async def discount(self, subscription_id: uuid.UUID) -> SubscriptionDiscount | None:
        """The subscription's live discount (one that ran its course is only a record)."""
        return await self.session.scalar(
            select(SubscriptionDiscount)
            .where(SubscriptionDiscount.subscription_id == subscription_id, _LIVE)
            .options(selectinload(SubscriptionDiscount.coupon))
        )

    async def discounts(
        self, subscription_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, SubscriptionDiscount]:
        if not subscription_ids:
            return {}
        query = (
            select(SubscriptionDiscount)
            .where(SubscriptionDiscount.subscription_id.in_(subscription_ids), _LIVE)
            .options(selectinload(SubscriptionDiscount.coupon))
        )
        return {d.subscription_id: d for d in await self.session.scalars(query)}
