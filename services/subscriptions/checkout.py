"""Subscribe: a trial when the user never had one, else a first payment; a preview of
it; and a promotion code redeemed on the current subscription."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from models import Subscription, SubscriptionHistory
from services.billing.idempotency import check_key, previous_response, request_hash
from services.billing.payments import ChargeSpec, charge, method_for_charge
from services.billing.rules import Line, LineKind, PaymentPurpose
from services.common.errors import DomainError, ErrorCode
from services.discounts import redemption
from services.discounts.redemption import discounted, preview_discount, redeem, use_cycle
from services.discounts.rules import check_code
from services.gateway.base import ChargeOutcome, idempotency_key
from services.platform.deps import Deps
from services.pricing.catalog import require_plan
from services.pricing.customer_prices import customer_price
from services.pricing.periods import next_period_end
from services.pricing.rules import PlanKind
from services.store.db import violates
from services.store.plans import terms_of
from services.store.subscriptions import state_of
from services.subscriptions import lifecycle
from services.subscriptions.current import locked_current, replayed
from services.subscriptions.fulfillment import Fulfillment, validate
from services.subscriptions.interruptions import ActingFor
from services.subscriptions.lifecycle import Status
from services.subscriptions.transitions import apply_transition
from services.subscriptions.views import ChargeOutcomeResult, SubscriptionView

OPERATION = "subscribe"


@dataclass(frozen=True)
class Subscribe:
    user_id: str
    plan_code: str
    payment_method_id: str | None = None
    fulfillment: Fulfillment | None = None
    idempotency_key: str | None = None
    promotion_code: str | None = None


def _already_subscribed() -> DomainError:
    return DomainError(
        ErrorCode.ALREADY_SUBSCRIBED,
        "you already have a current subscription; upgrade, downgrade or resume it instead",
        "planCode",
    )


async def subscribe(deps: Deps, cmd: Subscribe) -> ChargeOutcomeResult:
    key = check_key(cmd.idempotency_key)
    fulfillment = validate(cmd.fulfillment) if cmd.fulfillment else None
    fingerprint = request_hash(
        OPERATION,
        {
            "plan": cmd.plan_code,
            "pm": cmd.payment_method_id,
            "fulfillment": fulfillment.to_json() if fulfillment else None,
            "promotionCode": cmd.promotion_code,
        },
    )
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.subscriptions.lock_user(cmd.user_id)
        stored = await previous_response(uow, cmd.user_id, key, fingerprint)
        if stored is not None:
            return await replayed(uow, stored, now)
        plan = await require_plan(uow, cmd.plan_code, purchasable=True, kind=PlanKind.SUBSCRIPTION)
        if await uow.subscriptions.current(cmd.user_id) is not None:
            raise _already_subscribed()
        terms = terms_of(plan)
        started = lifecycle.start(
            terms, now, trial_eligible=not await uow.subscriptions.had_trial(cmd.user_id)
        )
        # Trials need a method too, so the conversion on day 14 can charge it.
        method = await method_for_charge(uow, deps.gateway, cmd.user_id, cmd.payment_method_id)
        free_plan = await uow.plans.free_plan()
        plans = {plan.code: plan}
        row = Subscription(
            id=uuid.uuid4(),
            user_id=cmd.user_id,
            currency=plan.currency,
            payment_processor=deps.gateway.platform,
            fulfillment=fulfillment.to_json() if fulfillment else None,
            created_at=now,
        )
        uow.subscriptions.add(row)
        apply_transition(uow, row, started, plans, free_plan=free_plan, actor=cmd.user_id, now=now)
        discount = None
        if cmd.promotion_code is not None:  # the trial's conversion uses it if there is one
            await uow.session.flush()
            discount = await redeem(uow, cmd.promotion_code, row, plan, now)
        payment = None
        errors: tuple[DomainError, ...] = ()
        if started.after.status is lifecycle.Status.PENDING:
            period_end = next_period_end(now, now, terms.interval, terms.interval_count)
            price = await customer_price(uow, cmd.user_id, plan, now)
            line = Line(LineKind.SUBSCRIPTION, plan.name, price, plan.code, now, period_end)
            lines = discounted(discount, (line,))
            await uow.session.flush()
            spec = ChargeSpec(
                order=row,
                method=method,
                purpose=PaymentPurpose.FIRST_PAYMENT,
                lines=lines,
                idempotency_key=idempotency_key(cmd.user_id, key or str(row.id), OPERATION),
                off_session=False,
            )
            payment, result = await charge(uow, deps.gateway, spec, now)
            use_cycle(discount, lines)
            settled = lifecycle.payment_result(
                state_of(row), terms, payment.amount_cents, payment.status, now
            )
            if settled is not None:
                apply_transition(
                    uow, row, settled, plans, free_plan=free_plan, actor=cmd.user_id, now=now
                )
            if result.outcome is ChargeOutcome.DECLINED:
                message = result.failure_message or "the card was declined"
                errors = (DomainError(ErrorCode.PAYMENT_DECLINED, message, "paymentMethodId"),)
        outcome = ChargeOutcomeResult(SubscriptionView.of(row, free_plan, now), payment, errors)
        if key is not None:
            uow.messaging.remember(cmd.user_id, key, OPERATION, fingerprint, outcome.to_json(), now)
        try:
            await uow.commit()
        except IntegrityError as exc:
            if violates(exc, "uq_subscriptions_current_user"):  # the index has the last word
                raise _already_subscribed() from exc
            raise
        return outcome


@dataclass(frozen=True)
class SubscribePreview:
    plan_code: str
    currency: str
    trial_days: int  # 0: no trial, the first charge is now
    amount_due_now_cents: int
    first_charge_at: datetime
    first_charge_cents: int
    lines: tuple[Line, ...]  # the first paid invoice, with its discount


async def preview_subscribe(
    deps: Deps, user_id: str, plan_code: str, promotion_code: str | None
) -> SubscribePreview:
    """What subscribing would charge, and when; a promotion code is checked, not used."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        plan = await require_plan(uow, plan_code, purchasable=True, kind=PlanKind.SUBSCRIPTION)
        terms = terms_of(plan)
        trial = terms.trial_days if not await uow.subscriptions.had_trial(user_id) else 0
        first_at = now + timedelta(days=trial)
        end = next_period_end(first_at, first_at, terms.interval, terms.interval_count)
        price = await customer_price(uow, user_id, plan, first_at)
        lines: tuple[Line, ...] = (
            Line(LineKind.SUBSCRIPTION, plan.name, price, plan.code, first_at, end),
        )
        if promotion_code is not None:
            lines = await preview_discount(uow, promotion_code, user_id, plan, lines, now)
    first = sum(line.amount_cents for line in lines)
    return SubscribePreview(
        plan.code, plan.currency, trial, 0 if trial else first, first_at, first, lines
    )


async def apply_promotion_code(
    deps: Deps, user_id: str, code: str, acting: ActingFor | None = None
) -> redemption.DiscountView:
    """Redeem a code on the current subscription: the next invoices carry it. Support
    applying it for the customer leaves a line in their history (no status changes)."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        row = await locked_current(uow, user_id)
        if row.status not in (Status.TRIALING, Status.ACTIVE, Status.PAST_DUE):
            raise DomainError(
                ErrorCode.COUPON_NOT_APPLICABLE,
                f"a {row.status.value} subscription takes no promotion code",
                "code",
            )
        discount = await redemption.redeem(uow, code, row, row.plan, now)
        view = redemption.DiscountView.of(discount, check_code(code, "code"))
        if acting is not None:
            uow.subscriptions.add_history(
                SubscriptionHistory(
                    subscription_id=row.id,
                    user_id=user_id,
                    from_status=row.status,
                    to_status=row.status,
                    reason="promotion_code_applied",
                    note=acting.reason,
                    actor=acting.admin_id,
                    occurred_at=now,
                    details={"code": view.promotion_code, "coupon": view.coupon_code},
                )
            )
        await uow.commit()
        return view
