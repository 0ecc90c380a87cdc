"""Upgrades (now, prorated, the plan switches only once paid) and downgrades (at the end
of the paid period)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import Plan, Subscription
from services.billing.idempotency import check_key, previous_response, request_hash
from services.billing.payments import ChargeSpec, charge, method_for_charge
from services.billing.proration import prorate
from services.billing.rules import Line, LineKind, PaymentPurpose, PaymentStatus
from services.common.errors import DomainError, ErrorCode, InvalidTransition
from services.credits import returns
from services.credits.rules import CreditNoteKind
from services.discounts.redemption import discounted, use_cycle
from services.gateway.base import idempotency_key
from services.platform.deps import Deps
from services.pricing.catalog import require_plan
from services.pricing.customer_prices import customer_price
from services.pricing.rules import PlanKind
from services.store.plans import terms_of
from services.store.subscriptions import state_of
from services.subscriptions import checkout, lifecycle
from services.subscriptions.current import change_subscription, locked_current, replayed
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


@dataclass(frozen=True)
class Upgrade:
    user_id: str
    plan_code: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Downgrade:
    user_id: str
    plan_code: str


def proration_lines(
    row: Subscription, target: Plan, target_price_cents: int, now: datetime, unused_cents: int
) -> list[Line]:
    """Credit for the unused time on the old plan (what its invoice can still give back,
    services/credits/returns.py), charge for the rest of the period on the new one. Both
    lines cover the same span. No account credit is carried: the credit line is capped
    at the charge."""
    start, end = row.current_period_start, row.current_period_end
    assert start is not None and end is not None
    # A period just restarted by a resume has no time left yet: its renewal is due now.
    charge = prorate(0, target_price_cents, start, end, now).charge_cents if end > start else 0
    return [
        Line(
            LineKind.PRORATION_CREDIT,
            f"Unused time on {row.plan.name}",
            -min(unused_cents, charge),
            row.plan.code,
            now,
            end,
        ),
        Line(
            LineKind.PRORATION_CHARGE,
            f"Remaining time on {target.name}",
            charge,
            target.code,
            now,
            end,
        ),
    ]


async def upgrade(deps: Deps, cmd: Upgrade) -> ChargeOutcomeResult:
    key = check_key(cmd.idempotency_key)
    fingerprint = request_hash(OPERATION, {"plan": cmd.plan_code})
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.subscriptions.lock_user(cmd.user_id)
        stored = await previous_response(uow, cmd.user_id, key, fingerprint)
        if stored is not None:
            return await replayed(uow, stored, now)
        row = await locked_current(uow, cmd.user_id)
        target = await require_plan(
            uow, cmd.plan_code, purchasable=True, kind=PlanKind.SUBSCRIPTION
        )
        lifecycle.check_plan_change(terms_of(row.plan), terms_of(target), upgrade=True)
        state = state_of(row)
        plans = {row.plan.code: row.plan, target.code: target}
        free_plan = await uow.plans.free_plan()
        payment = None
        errors: tuple[DomainError, ...] = ()
        if state.status is Status.TRIALING:
            # Nothing has been paid yet: the trial simply continues on the new plan.
            switched: lifecycle.Transition | None = lifecycle.change_plan(
                state, terms_of(target), now
            )
        elif state.status is Status.ACTIVE:
            unused = await returns.unused_time(uow, row, now)
            price = await customer_price(uow, cmd.user_id, target, now)
            prorated = proration_lines(
                row, target, price, now, unused.amount_cents if unused else 0
            )
            discount = await uow.discounts.discount(row.id)
            lines = discounted(discount, tuple(prorated))
            method = await method_for_charge(uow, deps.gateway, cmd.user_id, None)
            spec = ChargeSpec(
                order=row,
                method=method,
                purpose=PaymentPurpose.UPGRADE,
                lines=lines,
                target_plan_id=target.id,
                idempotency_key=idempotency_key(
                    cmd.user_id, key or f"{row.id}:{now.isoformat()}", OPERATION
                ),
                off_session=False,
            )
            payment, _ = await charge(uow, deps.gateway, spec, now)
            use_cycle(discount, lines)
            if unused is not None and payment.status in (
                PaymentStatus.SUCCESS,
                PaymentStatus.STARTED,  # held for it; given back if it is never paid
            ):
                paying = await uow.billing.invoice_of_payment(spec.payment_id)
                await returns.draw(
                    uow,
                    unused,
                    CreditNoteKind.PRORATION,
                    f"unused time on {row.plan.name}, toward {target.name}",
                    now,
                    amount_cents=-prorated[0].amount_cents,
                    applied_to=paying,
                )
            switched = None
            if payment.status is PaymentStatus.SUCCESS:
                switched = lifecycle.change_plan(state, terms_of(target), now)
            elif payment.status is PaymentStatus.STARTED:
                errors = (
                    DomainError(
                        ErrorCode.PAYMENT_REQUIRES_ACTION,
                        "confirm the payment to finish the upgrade",
                        "paymentMethodId",
                    ),
                )
            else:
                message = payment.failure_message or "the card was declined"
                errors = (DomainError(ErrorCode.PAYMENT_DECLINED, message, "paymentMethodId"),)
        else:
            raise InvalidTransition(state.status.value, "upgrade")
        if switched is not None:
            apply_transition(
                uow, row, switched, plans, free_plan=free_plan, actor=cmd.user_id, now=now
            )
        outcome = ChargeOutcomeResult(SubscriptionView.of(row, free_plan, now), payment, errors)
        if key is not None:
            uow.messaging.remember(cmd.user_id, key, OPERATION, fingerprint, outcome.to_json(), now)
        await uow.commit()
        return outcome


async def downgrade(deps: Deps, cmd: Downgrade) -> SubscriptionView:
    def rule(row: Subscription, target: Plan | None, now: datetime) -> lifecycle.Transition:
        assert target is not None
        lifecycle.check_plan_change(terms_of(row.plan), terms_of(target), upgrade=False)
        return lifecycle.schedule_downgrade(state_of(row), terms_of(target), now)

    return await change_subscription(
        deps, cmd.user_id, rule, actor=cmd.user_id, target_plan_code=cmd.plan_code
    )


async def preview(deps: Deps, user_id: str, plan_code: str) -> PlanChangePreview:
    """An upgrade is charged now (prorated; nothing during a trial); a downgrade costs
    nothing now and takes effect at the end of the period."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        row = await uow.subscriptions.current(user_id)
        if row is None:
            raise DomainError(ErrorCode.NO_SUBSCRIPTION, "you have no current subscription")
        target = await require_plan(uow, plan_code, purchasable=True, kind=PlanKind.SUBSCRIPTION)
        upgrade = target.tier_rank > row.plan.tier_rank
        lifecycle.check_plan_change(terms_of(row.plan), terms_of(target), upgrade=upgrade)
        if upgrade and row.status is Status.ACTIVE:
            unused = await returns.unused_time(uow, row, now)
            price = await customer_price(uow, user_id, target, now)
            prorated = proration_lines(
                row, target, price, now, unused.amount_cents if unused else 0
            )
            lines = list(discounted(await uow.discounts.discount(row.id), tuple(prorated)))
            amount, effective = sum(line.amount_cents for line in lines), now
        elif upgrade:
            amount, effective, lines = 0, now, []
        else:
            assert row.current_period_end is not None
            amount, effective, lines = 0, row.current_period_end, []
        return PlanChangePreview(
            target.code, upgrade, amount, row.currency, effective, tuple(lines)
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
