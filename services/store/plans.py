"""SQL for the plan catalog, its price history, and price-change broadcasts with the
audience they reach."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select, tuple_, union
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Broadcast, CustomerPrice, PaymentCustomer, Plan, PricingRecord, Subscription
from services.pricing.policy import AfterGrace, ChangeTiming, LifecyclePolicy, Proration
from services.subscriptions.lifecycle import PlanTerms
from services.subscriptions.state import PlanFeatures

FREE_PLAN_CODE = "free"


def policy_of(plan: Plan) -> LifecyclePolicy:
    return LifecyclePolicy(
        proration=Proration(plan.proration),
        upgrade_timing=ChangeTiming(plan.upgrade_timing),
        downgrade_timing=ChangeTiming(plan.downgrade_timing),
        retry_days=tuple(plan.retry_days),
        grace_days=plan.grace_days,
        after_grace=AfterGrace(plan.after_grace),
    )


def write_policy(plan: Plan, policy: LifecyclePolicy) -> None:
    plan.proration = policy.proration.value
    plan.upgrade_timing = policy.upgrade_timing.value
    plan.downgrade_timing = policy.downgrade_timing.value
    plan.retry_days = list(policy.retry_days)
    plan.grace_days = policy.grace_days
    plan.after_grace = policy.after_grace.value


def terms_of(plan: Plan) -> PlanTerms:
    return PlanTerms(
        code=plan.code,
        price_cents=plan.price_cents,
        currency=plan.currency,
        interval=plan.interval,
        trial_days=plan.trial_days,
        tier_rank=plan.tier_rank,
        interval_count=plan.interval_count,
        policy=policy_of(plan),
    )


def features_of(plan: Plan) -> PlanFeatures:
    return PlanFeatures(plan.code, tuple(plan.entitlements), tuple(plan.grace_entitlements))


class PlanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._free_plan: Plan | None = None

    async def list(self, *, include_archived: bool = False) -> Sequence[Plan]:
        query = select(Plan).order_by(Plan.tier_rank, Plan.code)
        if not include_archived:
            query = query.where(Plan.archived.is_(False))
        return (await self.session.scalars(query)).all()

    async def customer_prices(
        self, pairs: Iterable[tuple[str, uuid.UUID]]
    ) -> dict[tuple[str, uuid.UUID], CustomerPrice]:
        """The customers' own prices on these plans, by (user, plan id)."""
        wanted = list(set(pairs))
        if not wanted:
            return {}
        query = select(CustomerPrice).where(
            tuple_(CustomerPrice.user_id, CustomerPrice.plan_id).in_(wanted)
        )
        return {(r.user_id, r.plan_id): r for r in await self.session.scalars(query)}

    async def set_customer_price(self, price: CustomerPrice) -> None:
        await self.session.execute(
            insert(CustomerPrice)
            .values(
                user_id=price.user_id,
                plan_id=price.plan_id,
                price_cents=price.price_cents,
                until=price.until,
                created_by=price.created_by,
                created_at=price.created_at,
            )
            .on_conflict_do_update(
                index_elements=["user_id", "plan_id"],
                set_={
                    "price_cents": price.price_cents,
                    "until": price.until,
                    "created_by": price.created_by,
                    "created_at": price.created_at,
                },
            )
        )

    async def remove_customer_price(self, user_id: str, plan_id: uuid.UUID) -> bool:
        removed = await self.session.execute(
            delete(CustomerPrice)
            .where(CustomerPrice.user_id == user_id, CustomerPrice.plan_id == plan_id)
            .returning(CustomerPrice.user_id)
        )
        return removed.first() is not None

    async def by_code(self, code: str, *, for_update: bool = False) -> Plan | None:
        query = select(Plan).where(Plan.code == code)
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def rank_holder(self, rank: int, kind: str, besides: str | None = None) -> str | None:
        """The code of an on-sale plan of `kind` that holds `rank`, other than `besides`."""
        query = select(Plan.code).where(
            Plan.tier_rank == rank, Plan.kind == kind, Plan.archived.is_(False)
        )
        if besides is not None:
            query = query.where(Plan.code != besides)
        return await self.session.scalar(query.limit(1))

    async def by_ids(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Plan]:
        wanted = set(ids)
        if not wanted:
            return {}
        rows = await self.session.scalars(select(Plan).where(Plan.id.in_(wanted)))
        return {plan.id: plan for plan in rows}

    async def free_plan(self) -> Plan:
        """Looked up once per transaction: every entitlement answer needs it."""
        if self._free_plan is None:
            self._free_plan = await self.by_code(FREE_PLAN_CODE)
        if self._free_plan is None:
            raise RuntimeError("the free plan is missing: run `python main.py migrate` to seed it")
        return self._free_plan

    def add(self, plan: Plan) -> None:
        self.session.add(plan)

    def add_pricing_record(self, record: PricingRecord) -> None:
        self.session.add(record)

    async def pricing_history(self, plan_id: uuid.UUID) -> Sequence[PricingRecord]:
        query = (
            select(PricingRecord)
            .where(PricingRecord.plan_id == plan_id, PricingRecord.is_active.is_(True))
            .order_by(PricingRecord.changed_at.desc(), PricingRecord.id.desc())
        )
        return (await self.session.scalars(query)).all()


class BroadcastRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, broadcast: Broadcast) -> None:
        self.session.add(broadcast)

    async def claim_pending(self) -> Broadcast | None:
        query = (
            select(Broadcast)
            .where(Broadcast.finished_at.is_(None))
            .order_by(Broadcast.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return await self.session.scalar(query)

    async def known_users_after(self, cursor: str | None, limit: int) -> Sequence[str]:
        """Every user the service has seen (a subscription or a payment customer), in
        user id order after `cursor`. Each side stops at `limit` rows on its index, so
        a batch costs the same at the start and at the end of millions of users."""
        parts = []
        for column in (Subscription.user_id, PaymentCustomer.user_id):
            part = select(column.label("user_id")).distinct().order_by(column).limit(limit)
            if cursor is not None:
                part = part.where(column > cursor)
            parts.append(part.subquery().select())
        merged = union(*parts).subquery()
        query = select(merged.c.user_id).order_by(merged.c.user_id).limit(limit)
        return (await self.session.scalars(query)).all()
