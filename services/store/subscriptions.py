"""SQL for subscriptions and their history, and the mapping between rows and the
plain `SubscriptionState` the rules work on."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from models import ChargeDeferral, Plan, Subscription, SubscriptionHistory
from services.store.operations import EVERYONE, DueScope
from services.subscriptions.due import CHECKOUT_TIMEOUT, TRIAL_REMINDER_BEFORE
from services.subscriptions.lifecycle import Status, SubscriptionState
from services.subscriptions.state import SubscriptionFilter

# Subscriptions that will be invoiced again (a pause resumes into a renewal).
RENEWING = (Status.TRIALING, Status.ACTIVE, Status.PAST_DUE, Status.PAUSED)

STATE_FIELDS = (
    "status",
    "payment_confirmation",
    "billing_cycle_anchor",
    "current_period_start",
    "current_period_end",
    "trial_start",
    "trial_end",
    "cancel_at_period_end",
    "cancelled_at",
    "activated_at",
    "grace_expires_at",
    "next_retry_at",
    "retry_count",
    "status_before_suspension",
    "status_updated_at",
    "price_paid_cents",
    "resumes_at",
)


def state_of(row: Subscription) -> SubscriptionState:
    return SubscriptionState(
        plan_code=row.plan.code,
        pending_plan_code=row.pending_plan.code if row.pending_plan else None,
        **{name: getattr(row, name) for name in STATE_FIELDS},
    )


def write_state(row: Subscription, state: SubscriptionState, plans: dict[str, Plan]) -> None:
    """Copy a state onto its row. `plans` must hold every plan code the state names."""
    for name in STATE_FIELDS:
        setattr(row, name, getattr(state, name))
    row.is_current = state.is_current
    row.plan = plans[state.plan_code]
    row.plan_id = row.plan.id
    pending = plans[state.pending_plan_code] if state.pending_plan_code else None
    row.pending_plan = pending
    row.pending_plan_id = pending.id if pending else None


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: uuid.UUID


class SubscriptionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _with_plans(self) -> Select[Subscription]:
        return select(Subscription).options(
            joinedload(Subscription.plan),
            joinedload(Subscription.pending_plan),
            # Many-to-one on (user, plan): joined, so a load stays one round trip.
            joinedload(Subscription.price_override),
        )

    async def lock_user(self, user_id: str) -> None:
        """Serialize one user's mutations for the rest of the transaction."""
        await self.lock_users([user_id])

    async def lock_users(self, user_ids: Collection[str]) -> None:
        """Serialize these users' mutations for the rest of the transaction: one statement,
        locks taken in a fixed (sorted) order so two batches cannot deadlock each other."""
        if user_ids:
            await self.session.execute(
                text(
                    "SELECT pg_advisory_xact_lock(hashtextextended(u, 0))"
                    " FROM unnest(CAST(:user_ids AS text[])) AS u"
                ),
                {"user_ids": sorted(user_ids)},
            )

    async def by_ids_for_update(
        self, subscription_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, Subscription]:
        if not subscription_ids:
            return {}
        query = (
            self._with_plans()
            .where(Subscription.id.in_(subscription_ids))
            .order_by(Subscription.id)
            .with_for_update(of=Subscription)
            .execution_options(populate_existing=True)  # the locked state, not a cached one
        )
        return {row.id: row for row in (await self.session.scalars(query)).unique()}

    async def current(self, user_id: str, *, for_update: bool = False) -> Subscription | None:
        query = self._with_plans().where(
            Subscription.user_id == user_id, Subscription.is_current.is_(True)
        )
        if for_update:
            query = query.with_for_update(of=Subscription)
        return await self.session.scalar(query)

    async def by_id(self, subscription_id: uuid.UUID) -> Subscription | None:
        return await self.session.scalar(
            self._with_plans().where(Subscription.id == subscription_id)
        )

    async def had_trial(self, user_id: str) -> bool:
        query = select(
            exists().where(Subscription.user_id == user_id, Subscription.trial_start.is_not(None))
        )
        return bool(await self.session.scalar(query))

    def add(self, row: Subscription) -> None:
        self.session.add(row)

    def add_history(self, row: SubscriptionHistory) -> None:
        self.session.add(row)

    async def history(self, subscription_id: uuid.UUID) -> Sequence[SubscriptionHistory]:
        query = (
            select(SubscriptionHistory)
            .where(SubscriptionHistory.subscription_id == subscription_id)
            .order_by(SubscriptionHistory.occurred_at, SubscriptionHistory.id)
        )
        return (await self.session.scalars(query)).all()

    async def page(
        self, filters: SubscriptionFilter, first: int, after: Cursor | None
    ) -> Sequence[Subscription]:
        """Newest first, keyset-paginated; fetches one extra row to tell if more exist."""
        query = self._with_plans()
        if filters.status is not None:
            query = query.where(Subscription.status == filters.status)
        if filters.user_id is not None:
            query = query.where(Subscription.user_id == filters.user_id)
        if filters.user_id_prefix:
            query = query.where(
                Subscription.user_id.startswith(filters.user_id_prefix, autoescape=True)
            )
        if filters.plan_code is not None:
            plan_id = select(Plan.id).where(Plan.code == filters.plan_code).scalar_subquery()
            query = query.where(Subscription.plan_id == plan_id)
        if after is not None:
            query = query.where(
                or_(
                    Subscription.created_at < after.created_at,
                    and_(Subscription.created_at == after.created_at, Subscription.id < after.id),
                )
            )
        query = query.order_by(Subscription.created_at.desc(), Subscription.id.desc())
        return (await self.session.scalars(query.limit(first + 1))).all()

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        skip: Collection[uuid.UUID] = (),
        scope: DueScope = EVERYONE,
    ) -> Sequence[Subscription]:
        """Current subscriptions in `scope` with lifecycle work due at `now`, locked so
        concurrent workers each take different rows (FOR UPDATE SKIP LOCKED)."""
        due = or_(
            and_(
                Subscription.status.in_([Status.TRIALING, Status.ACTIVE, Status.CANCELED]),
                Subscription.current_period_end <= now,
            ),
            and_(Subscription.status == Status.PAST_DUE, Subscription.grace_expires_at <= now),
            and_(Subscription.status == Status.PAST_DUE, Subscription.next_retry_at <= now),
            and_(Subscription.status == Status.PAUSED, Subscription.resumes_at <= now),
            and_(
                Subscription.status == Status.PENDING,
                Subscription.status_updated_at <= now - CHECKOUT_TIMEOUT,
            ),
            and_(
                Subscription.status == Status.TRIALING,
                Subscription.trial_reminder_sent_at.is_(None),
                Subscription.trial_end <= now + TRIAL_REMINDER_BEFORE,
            ),
        )
        # Charges the gateway could not take wait out their backoff (charge_deferrals).
        waiting = exists().where(
            ChargeDeferral.subscription_id == Subscription.id, ChargeDeferral.next_attempt_at > now
        )
        query = self._with_plans().where(Subscription.is_current.is_(True), due, ~waiting)
        if skip:
            query = query.where(Subscription.id.not_in(skip))
        in_scope = scope.users(Subscription.user_id)
        if in_scope is not None:
            query = query.where(in_scope)
        query = query.limit(limit)  # no ORDER BY: it would sort every due row per batch
        query = query.with_for_update(of=Subscription, skip_locked=True)
        rows = (await self.session.scalars(query)).unique().all()
        if not rows:
            return rows
        # The claim's snapshot predates its locks: a worker that queued a row behind a
        # gateway backoff and committed in between (the row itself unchanged, so the lock
        # is granted) is seen only by a statement of its own, under the locks.
        still = select(Subscription.id).where(
            Subscription.id.in_([row.id for row in rows]), due, ~waiting
        )
        due_now = set((await self.session.scalars(still)).all())
        return [row for row in rows if row.id in due_now]

    async def next_due_at(
        self, scope: DueScope = EVERYONE, after: datetime | None = None
    ) -> datetime | None:
        """The earliest moment (later than `after`, if given) any current subscription in
        `scope` has time-based work."""
        current: ColumnElement[bool] = Subscription.is_current.is_(True)
        in_scope = scope.users(Subscription.user_id)
        if in_scope is not None:
            current = and_(current, in_scope)
        moments: list[tuple[Any, ColumnElement[bool]]] = [
            (
                Subscription.current_period_end,
                Subscription.status.in_([Status.TRIALING, Status.ACTIVE, Status.CANCELED]),
            ),
            (Subscription.grace_expires_at, Subscription.status == Status.PAST_DUE),
            (Subscription.next_retry_at, Subscription.status == Status.PAST_DUE),
            (Subscription.resumes_at, Subscription.status == Status.PAUSED),
            (
                Subscription.status_updated_at + CHECKOUT_TIMEOUT,
                Subscription.status == Status.PENDING,
            ),
            (
                Subscription.trial_end - TRIAL_REMINDER_BEFORE,
                and_(
                    Subscription.status == Status.TRIALING,
                    Subscription.trial_reminder_sent_at.is_(None),
                ),
            ),
        ]
        found = []
        for moment, status in moments:
            query = select(func.min(moment)).where(current, status)
            if after is not None:
                query = query.where(moment > after)
            value = await self.session.scalar(query)
            if value is not None:
                found.append(value)
        return min(found) if found else None

    async def keep_plan_price(self, plan_id: uuid.UUID, price_cents: int) -> None:
        """Before a plan's price changes, its current subscriptions that follow the plan
        (rows written outside the service) are pinned to the price they had."""
        await self.session.execute(
            update(Subscription)
            .where(
                Subscription.plan_id == plan_id,
                Subscription.is_current.is_(True),
                Subscription.price_cents.is_(None),
            )
            .values(price_cents=price_cents)
        )

    async def schedule_plan_price(
        self,
        plan_id: uuid.UUID,
        previous_cents: int,
        price_cents: int,
        move_at: datetime,
        now: datetime,
    ) -> list[tuple[uuid.UUID, str, int]]:
        """Move the plan's current subscriptions to `price_cents` at `move_at`: a move
        already due becomes their own price first. (id, user, price until the move)."""
        own = _own_price(plan_price_cents=previous_cents, now=now)
        rows = await self.session.execute(
            update(Subscription)
            .where(Subscription.plan_id == plan_id, Subscription.is_current.is_(True))
            .values(price_cents=own, scheduled_price_cents=price_cents, scheduled_price_at=move_at)
            .returning(Subscription.id, Subscription.user_id, Subscription.price_cents)
            .execution_options(synchronize_session=False)
        )
        return [(row[0], row[1], row[2] if row[2] is not None else previous_cents) for row in rows]

    async def price_change_reach(
        self, plan_id: uuid.UUID, plan_price_cents: int, price_cents: int, now: datetime
    ) -> tuple[int, int]:
        """How many of the plan's current subscriptions a price change reaches (those
        still renewing whose own price is not already it), and the change of their
        recurring revenue per period if they moved (paying ones only, not trials)."""
        own = _own_price(plan_price_cents, now)
        paying = Subscription.status.in_((Status.ACTIVE, Status.PAST_DUE))
        row = (
            await self.session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((paying, price_cents - own), else_=0)), 0),
                ).where(
                    Subscription.plan_id == plan_id,
                    Subscription.is_current.is_(True),
                    Subscription.status.in_(RENEWING),
                    Subscription.cancel_at_period_end.is_(False),
                    Subscription.pending_plan_id.is_(None),
                    own != price_cents,
                )
            )
        ).one()
        return int(row[0]), int(row[1])


def _own_price(plan_price_cents: int, now: datetime) -> ColumnElement[int]:
    """A subscription's own price in SQL, a move already due counted as its price (rows
    with none follow the plan), as pricing.rules.price_for_period reads it."""
    due = and_(Subscription.scheduled_price_at.is_not(None), Subscription.scheduled_price_at <= now)
    return case(
        (due, Subscription.scheduled_price_cents),
        else_=func.coalesce(Subscription.price_cents, plan_price_cents),
    )
