"""Plan catalog use cases: reading plans, and admin create / update / archive / set price."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from models import Plan, PricingRecord
from services.common.errors import DomainError, ErrorCode
from services.common.text import check_text
from services.messaging import events
from services.messaging.events import DomainEvent, iso
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.pricing import broadcasts
from services.pricing.periods import Interval, check_interval_count, monthly_share
from services.pricing.policy import DEFAULT_POLICY
from services.pricing.rules import (
    ExistingSubscribers,
    PlanKind,
    check_features,
    check_grace_subset,
    check_move,
    check_plan_code,
    check_price,
    check_tier_rank,
    check_valid_days,
    default_trial_days,
    normalize_currency,
)
from services.pricing.views import PlanView, PricingRecordView
from services.store.plans import FREE_PLAN_CODE, write_policy

MAX_NAME = 200
MAX_DESCRIPTION = 2000


@dataclass(frozen=True)
class CreatePlan:
    code: str
    name: str
    price_cents: int
    currency: str
    interval: Interval
    tier_rank: int
    kind: PlanKind = PlanKind.SUBSCRIPTION
    description: str = ""
    trial_days: int | None = None
    entitlements: tuple[str, ...] = ()
    grace_entitlements: tuple[str, ...] = ()
    valid_days: int | None = None
    interval_count: int = 1  # a period is this many intervals


@dataclass(frozen=True)
class UpdatePlan:
    code: str
    name: str | None = None
    description: str | None = None
    trial_days: int | None = None
    tier_rank: int | None = None
    entitlements: tuple[str, ...] | None = None
    grace_entitlements: tuple[str, ...] | None = None
    valid_days: int | None = None


@dataclass(frozen=True)
class SetPlanPrice:
    plan_code: str
    price_cents: int
    currency: str
    description: str | None = None  # deprecated: the public description (updatePlan)
    note: str | None = None  # the internal reason, kept in the pricing history
    existing_subscribers: ExistingSubscribers = ExistingSubscribers.KEEP_PRICE
    move_at: datetime | None = None


async def require_plan(
    uow: UnitOfWork,
    code: str,
    *,
    purchasable: bool,
    lock: bool = False,
    kind: PlanKind | None = None,
) -> Plan:
    plan = await uow.plans.by_code(code, for_update=lock)
    if plan is None:
        raise DomainError(ErrorCode.PLAN_NOT_FOUND, f"no plan {code!r}", "planCode")
    if purchasable and plan.archived:
        raise DomainError(
            ErrorCode.PLAN_ARCHIVED, f"plan {code!r} is no longer offered", "planCode"
        )
    if kind is not None and plan.kind is not kind:
        how = "buy it with purchaseQuotaPack" if plan.kind is PlanKind.QUOTA else "subscribe to it"
        raise DomainError(
            ErrorCode.PLAN_NOT_PURCHASABLE,
            f"plan {code!r} is a {plan.kind.value}: {how}",
            "planCode",
        )
    return plan


def plan_updated(plan: Plan, change: str, now: datetime) -> DomainEvent:
    """Other services (and our access cache) learn that the catalog changed."""
    return DomainEvent(
        events.PLAN_UPDATED,
        plan.code,
        {
            "planCode": plan.code,
            "change": change,
            "name": plan.name,
            "priceCents": plan.price_cents,
            "currency": plan.currency,
            "entitlements": list(plan.entitlements),
            "graceEntitlements": list(plan.grace_entitlements),
            "tierRank": plan.tier_rank,
            "archived": plan.archived,
            "policy": policy_data(plan),
        },
        now,
    )


def policy_data(plan: Plan) -> dict[str, object]:
    return {
        "proration": plan.proration,
        "upgradeTiming": plan.upgrade_timing,
        "downgradeTiming": plan.downgrade_timing,
        "retryDays": list(plan.retry_days),
        "graceDays": plan.grace_days,
        "afterGrace": plan.after_grace,
    }


async def list_plans(deps: Deps, *, include_archived: bool = False) -> list[PlanView]:
    async with deps.uow() as uow:
        return [PlanView.of(p) for p in await uow.plans.list(include_archived=include_archived)]


async def get_plan(deps: Deps, code: str) -> PlanView | None:
    async with deps.uow() as uow:
        plan = await uow.plans.by_code(code)
        return PlanView.of(plan) if plan else None


async def create_plan(deps: Deps, admin_id: str, cmd: CreatePlan) -> PlanView:
    check_plan_code(cmd.code)
    check_price(cmd.price_cents)
    currency = normalize_currency(cmd.currency)
    entitlements = check_features(list(cmd.entitlements), "entitlements")
    grace = check_features(list(cmd.grace_entitlements), "graceEntitlements")
    check_grace_subset(entitlements, grace)
    check_tier_rank(cmd.tier_rank, is_free=cmd.price_cents == 0)
    check_valid_days(cmd.valid_days, cmd.kind)
    check_interval_count(cmd.interval_count)
    now = deps.clock.now()
    plan = Plan(
        id=uuid.uuid4(),
        code=cmd.code,
        name=check_text(cmd.name, "name", MAX_NAME, required=True),
        description=check_text(cmd.description, "description", MAX_DESCRIPTION, required=False),
        kind=cmd.kind,
        price_cents=cmd.price_cents,
        currency=currency,
        interval=cmd.interval,
        interval_count=cmd.interval_count,
        trial_days=default_trial_days(cmd.price_cents, cmd.trial_days),
        entitlements=list(entitlements),
        grace_entitlements=list(grace),
        tier_rank=cmd.tier_rank,
        valid_days=cmd.valid_days,
        archived=False,
        created_at=now,
        updated_at=now,
    )
    write_policy(plan, DEFAULT_POLICY)  # setPlanPolicy changes it
    async with deps.uow() as uow:
        if await uow.plans.by_code(cmd.code) is not None:
            raise DomainError(ErrorCode.PLAN_CODE_TAKEN, f"plan {cmd.code!r} exists", "code")
        await _rank_free(uow, plan)
        uow.plans.add(plan)
        uow.plans.add_pricing_record(
            PricingRecord(
                plan_id=plan.id,
                price_cents=plan.price_cents,
                previous_price_cents=None,
                currency=currency,
                description="initial price",
                changed_by=admin_id,
                changed_at=now,
            )
        )
        uow.record(plan_updated(plan, "created", now))
        try:
            await uow.commit()
        except IntegrityError as exc:  # a concurrent create won the race for the code
            raise DomainError(
                ErrorCode.PLAN_CODE_TAKEN, f"plan {cmd.code!r} exists", "code"
            ) from exc
    return PlanView.of(plan)


async def update_plan(deps: Deps, cmd: UpdatePlan) -> PlanView:
    async with deps.uow() as uow:
        plan = await require_plan(uow, cmd.code, purchasable=False, lock=True)
        if cmd.name is not None:
            plan.name = check_text(cmd.name, "name", MAX_NAME, required=True)
        if cmd.description is not None:
            plan.description = check_text(
                cmd.description, "description", MAX_DESCRIPTION, required=False
            )
        if cmd.trial_days is not None:
            plan.trial_days = default_trial_days(plan.price_cents, cmd.trial_days)
        if cmd.valid_days is not None:
            check_valid_days(cmd.valid_days, plan.kind)
            plan.valid_days = cmd.valid_days
        if cmd.tier_rank is not None:
            check_tier_rank(cmd.tier_rank, is_free=plan.price_cents == 0)
            plan.tier_rank = cmd.tier_rank
            await _rank_free(uow, plan)
        entitlements = tuple(plan.entitlements)
        if cmd.entitlements is not None:
            entitlements = check_features(list(cmd.entitlements), "entitlements")
        grace = tuple(plan.grace_entitlements)
        if cmd.grace_entitlements is not None:
            grace = check_features(list(cmd.grace_entitlements), "graceEntitlements")
        check_grace_subset(entitlements, grace)
        plan.entitlements, plan.grace_entitlements = list(entitlements), list(grace)
        plan.updated_at = deps.clock.now()
        uow.record(plan_updated(plan, "updated", plan.updated_at))
        await uow.commit()
        return PlanView.of(plan)


async def _rank_free(uow: UnitOfWork, plan: Plan) -> None:
    """Two plans on sale of one kind may not share a rank: an upgrade between them would
    be neither up nor down."""
    holder = await uow.plans.rank_holder(plan.tier_rank, plan.kind, besides=plan.code)
    if holder is not None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"plan {holder!r} already ranks {plan.tier_rank}", "tierRank"
        )


async def archive_plan(deps: Deps, code: str) -> PlanView:
    """Archived plans are no longer sold; existing subscribers keep them."""
    if code == FREE_PLAN_CODE:
        raise DomainError(ErrorCode.INVALID_INPUT, "the free plan cannot be archived", "code")
    async with deps.uow() as uow:
        plan = await require_plan(uow, code, purchasable=False, lock=True)
        plan.archived = True
        plan.updated_at = deps.clock.now()
        uow.record(plan_updated(plan, "archived", plan.updated_at))
        await uow.commit()
        return PlanView.of(plan)


async def set_plan_price(deps: Deps, admin_id: str, cmd: SetPlanPrice) -> PlanView:
    """A new price applies to new checkouts at once. Current subscribers keep the price
    they have (KEEP_PRICE) or move to it on their first invoice on or after `move_at`
    (MOVE_AT, at least PRICE_NOTICE_DAYS ahead; each moved subscription announced as
    `subscription.price_change_scheduled`). The change is kept in the pricing history
    with its note and announced as `pricing.changed`."""
    check_price(cmd.price_cents)
    currency = normalize_currency(cmd.currency)
    now = deps.clock.now()
    check_move(cmd.existing_subscribers, cmd.move_at, now, deps.settings.price_notice_days)
    note = check_text(cmd.note, "note", MAX_DESCRIPTION, required=False) if cmd.note else None
    async with deps.uow() as uow:
        plan = await require_plan(uow, cmd.plan_code, purchasable=False, lock=True)
        if plan.code == FREE_PLAN_CODE and cmd.price_cents != 0:
            raise DomainError(ErrorCode.INVALID_INPUT, "the free plan stays free", "priceCents")
        if currency != plan.currency:
            raise DomainError(
                ErrorCode.CURRENCY_MISMATCH,
                f"plan {plan.code} is billed in {plan.currency}; create a new plan to change it",
                "currency",
            )
        previous = plan.price_cents
        description = cmd.description if cmd.description is not None else plan.description
        plan.price_cents = cmd.price_cents
        plan.description = check_text(description, "description", MAX_DESCRIPTION, required=False)
        plan.updated_at = now
        uow.plans.add_pricing_record(
            PricingRecord(
                plan_id=plan.id,
                price_cents=cmd.price_cents,
                previous_price_cents=previous,
                currency=currency,
                description=plan.description,
                note=note,
                existing_subscribers=cmd.existing_subscribers.value,
                move_at=cmd.move_at,
                changed_by=admin_id,
                changed_at=now,
            )
        )
        await _existing_subscribers(uow, plan, previous, cmd, now)
        # Every user hears about the new price (seed: onPricingConfigCreated), in batches.
        broadcasts.start(
            uow,
            broadcasts.NEW_PRICING,
            {
                "planCode": plan.code,
                "planName": plan.name,
                "priceCents": cmd.price_cents,
                "currency": currency,
                "description": plan.description,
            },
            now,
        )
        uow.record(
            DomainEvent(
                events.PRICING_CHANGED,
                plan.code,  # keyed by plan: all changes of one plan stay in order
                {
                    "planCode": plan.code,
                    "priceCents": cmd.price_cents,
                    "previousPriceCents": previous,
                    "currency": currency,
                    "description": plan.description,
                    "changedBy": admin_id,
                },
                now,
            )
        )
        await uow.commit()
        return PlanView.of(plan)


async def _existing_subscribers(
    uow: UnitOfWork, plan: Plan, previous: int, cmd: SetPlanPrice, now: datetime
) -> None:
    """Grandfather the plan's current subscriptions, or move them at `move_at` and tell
    each (a mailer gives notice from the event)."""
    if cmd.existing_subscribers is ExistingSubscribers.KEEP_PRICE:
        await uow.subscriptions.keep_plan_price(plan.id, previous)
        return
    assert cmd.move_at is not None
    moved = await uow.subscriptions.schedule_plan_price(
        plan.id, previous, cmd.price_cents, cmd.move_at, now
    )
    for subscription_id, user_id, current_price in moved:
        data = {
            "subscriptionId": str(subscription_id),
            "userId": user_id,
            "planCode": plan.code,
            "priceCents": cmd.price_cents,
            "previousPriceCents": current_price,
            "currency": plan.currency,
            "effectiveAt": iso(cmd.move_at),
        }
        uow.record(DomainEvent(events.PRICE_CHANGE_SCHEDULED, user_id, data, now))


@dataclass(frozen=True)
class PlanPricePreview:
    """What a price change would do, before it is made: how many current subscribers
    keep their price under KEEP_PRICE, how many MOVE_AT would move, and the change of
    monthly recurring revenue if they moved (under KEEP_PRICE it is 0 until new
    subscribers come)."""

    subscribers_keeping: int
    subscribers_moving: int
    monthly_recurring_delta_cents: int


async def preview_plan_price(deps: Deps, plan_code: str, price_cents: int) -> PlanPricePreview:
    check_price(price_cents)
    async with deps.uow() as uow:
        plan = await require_plan(uow, plan_code, purchasable=False)
        reached, delta = await uow.subscriptions.price_change_reach(
            plan.id, plan.price_cents, price_cents, deps.clock.now()
        )
    monthly = monthly_share(delta, plan.interval, plan.interval_count)
    return PlanPricePreview(reached, reached, monthly)


async def pricing_history(deps: Deps, plan_code: str) -> list[PricingRecordView]:
    async with deps.uow() as uow:
        plan = await require_plan(uow, plan_code, purchasable=False)
        return [
            PricingRecordView.of(plan.code, r) for r in await uow.plans.pricing_history(plan.id)
        ]
