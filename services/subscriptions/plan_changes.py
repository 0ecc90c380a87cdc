"""Plan changes, timed and charged by the policy of the plan being left
(pricing/policy.py): by default an upgrade now, prorated, the plan switching only once
paid, and a downgrade at the end of the paid period."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from models import Plan, Subscription, SubscriptionDiscount
from services.billing.idempotency import check_key, previous_response, request_hash
from services.billing.payments import ChargeSpec, PaymentView, charge, method_for_charge
from services.billing.proration import prorate
from services.billing.rules import Line, LineKind, PaymentPurpose, PaymentStatus
from services.common.errors import DomainError, ErrorCode
from services.credits import returns
from services.credits.ledger import credit_time
from services.credits.returns import UnusedTime
from services.credits.rules import CreditNoteKind
from services.discounts.redemption import discounted, use_cycle
from services.gateway.base import idempotency_key
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.pricing.catalog import require_plan
from services.pricing.customer_prices import customer_price
from services.pricing.periods import next_period_end
from services.pricing.policy import ChangeTiming, Proration
from services.pricing.rules import PlanKind
from services.store.plans import policy_of, terms_of
from services.store.subscriptions import state_of
from services.subscriptions import checkout, lifecycle
from services.subscriptions.current import locked_current, replayed
from services.subscriptions.interruptions import ActingFor
from services.subscriptions.lifecycle import Status
from services.subscriptions.transitions import apply_transition
from services.subscriptions.views import ChargeOutcomeResult, SubscriptionView

OPERATION = "upgrade"


@dataclass(frozen=True)
class PlanChangePreview:
    """What a plan change would do, before the user commits to it."""

    plan_code: str
    is_upgrade: bool
    amount_due_cents: int
    currency: str
    effective_at: datetime
    lines: tuple[Line, ...]
    credit_cents: int = 0  # what an immediate prorated downgrade adds to the balance


@dataclass(frozen=True)
class Upgrade:
    user_id: str
    plan_code: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Downgrade:
    user_id: str
    plan_code: str


class Step(StrEnum):
    SCHEDULE = "SCHEDULE"  # at the end of the paid period (PERIOD_END)
    SWITCH = "SWITCH"  # now, nothing charged (a trial, or proration NONE)
    CHARGE = "CHARGE"  # now, once its charge is paid (PRORATE up, FULL_PERIOD)
    CREDIT = "CREDIT"  # now; the unused time less the new plan's share goes to the balance


@dataclass(frozen=True)
class Priced:
    """What a change does, decided once for both the preview and the change."""

    step: Step
    effective_at: datetime
    lines: tuple[Line, ...] = ()
    discount: SubscriptionDiscount | None = None
    unused: UnusedTime | None = None
    credit_cents: int = 0
    period: tuple[datetime, datetime] | None = None  # a new period (FULL_PERIOD)


def remaining_charge_line(row: Subscription, target: Plan, price_cents: int, now: datetime) -> Line:
    """The rest of the current period on the new plan, prorated."""
    start, end = row.current_period_start, row.current_period_end
    assert start is not None and end is not None
    # A period just restarted by a resume has no time left yet: its renewal is due now.
    cents = prorate(0, price_cents, start, end, now).charge_cents if end > start else 0
    return Line(
        LineKind.PRORATION_CHARGE, f"Remaining time on {target.name}", cents, target.code, now, end
    )


def proration_lines(
    row: Subscription, target: Plan, price_cents: int, now: datetime, unused_cents: int
) -> list[Line]:
    """Credit for the unused time on the old plan (what its invoice can still give back,
    services/credits/returns.py), charge for the rest of the period on the new one. Both
    lines cover the same span. No account credit is carried: the credit line is capped
    at the charge."""
    charge = remaining_charge_line(row, target, price_cents, now)
    credit = Line(
        LineKind.PRORATION_CREDIT,
        f"Unused time on {row.plan.name}",
        -min(unused_cents, charge.amount_cents),
        row.plan.code,
        now,
        charge.period_end,
    )
    return [credit, charge]


def full_period_line(target: Plan, price_cents: int, now: datetime) -> Line:
    """A FULL_PERIOD change: the new plan's whole price for a new period from now."""
    end = next_period_end(now, now, target.interval, target.interval_count)
    return Line(LineKind.SUBSCRIPTION, target.name, price_cents, target.code, now, end)


async def price_change(
    uow: UnitOfWork, row: Subscription, target: Plan, now: datetime, *, upgrade: bool
) -> Priced:
    """Refuses what the rules refuse (so a preview never offers it), then prices the
    change by the policy of the plan being left. A downgrade never charges the card
    under PRORATE: what the new plan's share exceeds the unused time by is not billed."""
    state = state_of(row)
    lifecycle.check_plan_change(terms_of(row.plan), terms_of(target), upgrade=upgrade)
    lifecycle.check_changeable(state)
    policy = policy_of(row.plan)
    if policy.timing(upgrade=upgrade) is ChangeTiming.PERIOD_END:
        assert row.current_period_end is not None
        return Priced(Step.SCHEDULE, row.current_period_end)
    if state.status is Status.TRIALING or policy.proration is Proration.NONE:
        return Priced(Step.SWITCH, now)
    price = await customer_price(uow, row.user_id, target, now)
    discount = await uow.discounts.discount(row.id)
    if policy.proration is Proration.FULL_PERIOD:
        line = full_period_line(target, price, now)
        assert line.period_end is not None
        lines = discounted(discount, (line,))
        return Priced(Step.CHARGE, now, lines, discount, period=(now, line.period_end))
    unused = await returns.unused_time(uow, row, now)
    unused_cents = unused.amount_cents if unused else 0
    if upgrade:
        lines = discounted(discount, tuple(proration_lines(row, target, price, now, unused_cents)))
        return Priced(Step.CHARGE, now, lines, discount, unused)
    share = discounted(discount, (remaining_charge_line(row, target, price, now),))
    kept = min(sum(line.amount_cents for line in share), unused_cents)
    return Priced(Step.CREDIT, now, unused=unused, credit_cents=unused_cents - kept)


async def upgrade(deps: Deps, cmd: Upgrade) -> ChargeOutcomeResult:
    return await _change(deps, cmd.user_id, cmd.plan_code, True, cmd.idempotency_key)


async def downgrade(deps: Deps, cmd: Downgrade) -> ChargeOutcomeResult:
    return await _change(deps, cmd.user_id, cmd.plan_code, False, None)


async def change_for(
    deps: Deps, acting: ActingFor, user_id: str, plan_code: str
) -> ChargeOutcomeResult:
    """Support changes a customer's plan: an upgrade or a downgrade by the plans' tiers
    (as the preview decides), priced and timed as the customer's own change would be,
    signed by the admin with their reason."""
    return await _change(deps, user_id, plan_code, None, None, acting)


async def _change(
    deps: Deps,
    user_id: str,
    plan_code: str,
    is_upgrade: bool | None,
    given_key: str | None,
    acting: ActingFor | None = None,
) -> ChargeOutcomeResult:
    """`is_upgrade` None: by the tiers."""
    actor, note = (acting.admin_id, acting.reason) if acting else (user_id, None)
    key = check_key(given_key)
    fingerprint = request_hash(OPERATION, {"plan": plan_code})
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.subscriptions.lock_user(user_id)
        stored = await previous_response(uow, user_id, key, fingerprint)
        if stored is not None:
            return await replayed(uow, stored, now)
        row = await locked_current(uow, user_id)
        target = await require_plan(uow, plan_code, purchasable=True, kind=PlanKind.SUBSCRIPTION)
        if is_upgrade is None:
            is_upgrade = target.tier_rank > row.plan.tier_rank
        priced = await price_change(uow, row, target, now, upgrade=is_upgrade)
        state, terms = state_of(row), terms_of(target)
        payment = None
        errors: tuple[DomainError, ...] = ()
        switched: lifecycle.Transition | None = None
        if priced.step is Step.SCHEDULE:
            switched = lifecycle.schedule_plan_change(state, terms, now, upgrade=is_upgrade)
        elif priced.step is Step.CHARGE:
            payment, errors = await _charge(deps, uow, row, target, priced, key, now)
            if payment.status is PaymentStatus.SUCCESS:
                switched = lifecycle.change_plan(
                    state, terms, now, upgrade=is_upgrade, period=priced.period
                )
        else:
            credited = priced.step is Step.CREDIT and deps.settings.credit_unused_time
            if credited and priced.unused is not None:
                await credit_time(uow, row, priced.unused, priced.credit_cents, now, actor)
            switched = lifecycle.change_plan(state, terms, now, upgrade=is_upgrade)
        free_plan = await uow.plans.free_plan()
        if switched is not None:
            plans = {row.plan.code: row.plan, target.code: target}
            apply_transition(
                uow, row, switched, plans, free_plan=free_plan, actor=actor, now=now, note=note
            )
        outcome = ChargeOutcomeResult(SubscriptionView.of(row, free_plan, now), payment, errors)
        if key is not None:
            uow.messaging.remember(user_id, key, OPERATION, fingerprint, outcome.to_json(), now)
        await uow.commit()
        return outcome


async def _charge(
    deps: Deps,
    uow: UnitOfWork,
    row: Subscription,
    target: Plan,
    priced: Priced,
    key: str | None,
    now: datetime,
) -> tuple[PaymentView, tuple[DomainError, ...]]:
    """Charge the change now; the unused time it credits is held while a 3-D Secure
    payment is pending and given back if it is never paid."""
    method = await method_for_charge(uow, deps.gateway, row.user_id, None)
    # The processor's key: the caller's (a retried request charges once), else this
    # attempt's own (two changes in the same instant, say after a decline, are two).
    payment_id = uuid.uuid4()
    spec = ChargeSpec(
        order=row,
        method=method,
        purpose=PaymentPurpose.UPGRADE,
        lines=priced.lines,
        target_plan_id=target.id,
        idempotency_key=idempotency_key(row.user_id, key or str(payment_id), OPERATION),
        off_session=False,
        payment_id=payment_id,
    )
    payment, _ = await charge(uow, deps.gateway, spec, now)
    use_cycle(priced.discount, priced.lines)
    credit = -sum(
        line.amount_cents for line in priced.lines if line.kind is LineKind.PRORATION_CREDIT
    )
    if priced.unused is not None and payment.status in (
        PaymentStatus.SUCCESS,
        PaymentStatus.STARTED,
    ):
        paying = await uow.billing.invoice_of_payment(spec.payment_id)
        await returns.draw(
            uow,
            priced.unused,
            CreditNoteKind.PRORATION,
            f"unused time on {row.plan.name}, toward {target.name}",
            now,
            amount_cents=credit,
            applied_to=paying,
        )
    if payment.status is PaymentStatus.SUCCESS:
        return payment, ()
    if payment.status is PaymentStatus.STARTED:
        why = "confirm the payment to finish the plan change"
        return payment, (DomainError(ErrorCode.PAYMENT_REQUIRES_ACTION, why, "paymentMethodId"),)
    message = payment.failure_message or "the card was declined"
    return payment, (DomainError(ErrorCode.PAYMENT_DECLINED, message, "paymentMethodId"),)


async def preview(deps: Deps, user_id: str, plan_code: str) -> PlanChangePreview:
    """What the change would charge now and when it takes effect, priced as the change
    itself prices it; a change the rules refuse is refused here too."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        row = await uow.subscriptions.current(user_id)
        if row is None:
            raise DomainError(ErrorCode.NO_SUBSCRIPTION, "you have no current subscription")
        target = await require_plan(uow, plan_code, purchasable=True, kind=PlanKind.SUBSCRIPTION)
        is_upgrade = target.tier_rank > row.plan.tier_rank
        priced = await price_change(uow, row, target, now, upgrade=is_upgrade)
        amount = sum(line.amount_cents for line in priced.lines)
        return PlanChangePreview(
            target.code,
            is_upgrade,
            amount,
            row.currency,
            priced.effective_at,
            priced.lines,
            priced.credit_cents,
        )


async def subscribe_or_upgrade(
    deps: Deps,
    user_id: str,
    plan_code: str,
    payment_method_id: str | None,
    idempotency_key: str | None,
) -> ChargeOutcomeResult:
    """The seed's "upgrade to a paid plan": subscribes a user with no current
    subscription, upgrades one who has it. A retry with the same idempotency key runs
    the operation the key was first used for, so it replays that first result instead
    of upgrading the subscription the first call created."""
    first = await _operation_of(deps, user_id, check_key(idempotency_key))
    if first is None:
        async with deps.uow() as uow:
            current = await uow.subscriptions.current(user_id)
        first = OPERATION if current is not None else checkout.OPERATION
    if first == checkout.OPERATION:
        command = checkout.Subscribe(
            user_id, plan_code, payment_method_id, idempotency_key=idempotency_key
        )
        return await checkout.subscribe(deps, command)
    return await upgrade(deps, Upgrade(user_id, plan_code, idempotency_key))


async def _operation_of(deps: Deps, user_id: str, key: str | None) -> str | None:
    if key is None:
        return None
    async with deps.uow() as uow:
        stored = await uow.messaging.idempotency_key(user_id, key)
    return stored.operation if stored is not None else None
