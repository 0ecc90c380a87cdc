"""Hosted checkout (seed 003's redirectUrl): `createCheckoutSession` returns a URL a
frontend redirects to. With the local gateway it is our own page, /checkout/{id},
offering the test cards; completing it subscribes the user (trial or first payment)
and sends the browser to `successUrl`. With Stripe it is a Stripe Checkout Session
(setup mode: Stripe collects the card); its `checkout.session.completed` webhook
subscribes the user with that card. Completion is idempotent by the session and card:
a repeat answers as the first did and charges nothing more. Sessions expire after a day."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from models import CheckoutSession
from services.billing import payment_methods
from services.billing.payments import GATEWAY_DOWN_MESSAGE, ensure_customer
from services.collection.payment_results import PaymentResultMessage, ResultOutcome
from services.common.errors import DomainError, ErrorCode
from services.discounts.redemption import preview_discount
from services.gateway.base import (
    CheckoutRequest,
    GatewayUnavailable,
    HostedCheckout,
    UnknownPaymentMethod,
    idempotency_key,
)
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.pricing.catalog import require_plan
from services.pricing.rules import PlanKind
from services.store.messaging import InboxRecord
from services.subscriptions import checkout
from services.subscriptions.views import ChargeOutcomeResult

LIFETIME = timedelta(hours=24)
MAX_URL = 2000
OPEN, COMPLETED, EXPIRED = "OPEN", "COMPLETED", "EXPIRED"
SUBSCRIBE, ADD_CARD = "SUBSCRIBE", "ADD_CARD"  # what completing the session does


@dataclass(frozen=True)
class CreateCheckoutSession:
    user_id: str
    plan_code: str
    success_url: str
    cancel_url: str
    promotion_code: str | None = None


@dataclass(frozen=True)
class CheckoutSessionView:
    id: uuid.UUID
    url: str
    status: str
    purpose: str
    plan_code: str | None  # None: the session only saves a card
    plan_name: str | None
    price_cents: int | None
    currency: str | None
    promotion_code: str | None
    success_url: str
    cancel_url: str
    expires_at: datetime
    trial_days: int = 0  # the free trial this customer would start with (0: none)

    @classmethod
    def of(cls, row: CheckoutSession, now: datetime, trial_days: int = 0) -> CheckoutSessionView:
        status = EXPIRED if row.status == OPEN and now >= row.expires_at else row.status
        plan = row.plan
        return cls(
            row.id,
            row.url,
            status,
            row.purpose,
            plan.code if plan else None,
            plan.name if plan else None,
            plan.price_cents if plan else None,
            plan.currency if plan else None,
            row.promotion_code,
            row.success_url,
            row.cancel_url,
            row.expires_at,
            trial_days,
        )


def check_url(url: str, field: str) -> str:
    """An absolute http(s) URL: where the browser goes next."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > MAX_URL:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"{field} must be an absolute http(s) URL", field
        )
    return url


async def create_checkout_session(deps: Deps, cmd: CreateCheckoutSession) -> CheckoutSessionView:
    return await _create(deps, cmd, SUBSCRIBE)


async def create_card_session(
    deps: Deps, user_id: str, success_url: str, cancel_url: str
) -> CheckoutSessionView:
    """A hosted page that only saves a card (the processor's own with Stripe: card
    numbers never pass through this service)."""
    return await _create(
        deps, CreateCheckoutSession(user_id, "", success_url, cancel_url), ADD_CARD
    )


async def _create(deps: Deps, cmd: CreateCheckoutSession, purpose: str) -> CheckoutSessionView:
    success = check_url(cmd.success_url, "successUrl")
    cancel = check_url(cmd.cancel_url, "cancelUrl")
    now = deps.clock.now()
    async with deps.uow() as uow:
        plan = None
        if purpose == SUBSCRIBE:
            plan = await require_plan(
                uow, cmd.plan_code, purchasable=True, kind=PlanKind.SUBSCRIPTION
            )
            if cmd.promotion_code is not None:  # checked now, used at completion
                await preview_discount(uow, cmd.promotion_code, cmd.user_id, plan, (), now)
        session_id = uuid.uuid4()
        hosted = await _hosted(deps, uow, cmd, session_id)
        row = CheckoutSession(
            id=session_id,
            user_id=cmd.user_id,
            purpose=purpose,
            plan_id=plan.id if plan else None,
            plan=plan,
            promotion_code=cmd.promotion_code,
            success_url=success,
            cancel_url=cancel,
            status=OPEN,
            platform=deps.gateway.platform,
            url=hosted.url
            if hosted
            else f"{deps.settings.public_url.rstrip('/')}/checkout/{session_id}",
            processor_session_id=hosted.processor_session_id if hosted else None,
            expires_at=now + LIFETIME,
            created_at=now,
        )
        uow.billing.add(row)
        await uow.commit()
        return CheckoutSessionView.of(row, now)


async def _hosted(
    deps: Deps, uow: UnitOfWork, cmd: CreateCheckoutSession, session_id: uuid.UUID
) -> HostedCheckout | None:
    """The processor's own checkout page, when it has one (Stripe)."""
    if deps.gateway.platform == "local":
        return None
    customer_id = await ensure_customer(uow, deps.gateway, cmd.user_id)
    request = CheckoutRequest(
        customer_id=customer_id,
        success_url=cmd.success_url,
        cancel_url=cmd.cancel_url,
        idempotency_key=idempotency_key("checkout", str(session_id)),
        metadata={"checkout_session_id": str(session_id), "user_id": cmd.user_id},
    )
    try:
        return await deps.gateway.create_checkout(request)
    except GatewayUnavailable as exc:
        raise DomainError(ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE, GATEWAY_DOWN_MESSAGE) from exc


async def complete_hosted_checkout(
    deps: Deps, processor_session_id: str, setup_intent_id: str
) -> CompletedCheckout | None:
    """The processor says its checkout collected a card: subscribe with it (once). None
    when the session is not one of ours or was completed already."""
    async with deps.uow() as uow:
        row = await uow.billing.checkout_session_by_processor_id(processor_session_id)
    if row is None or row.status != OPEN:
        return None
    try:
        method = await deps.gateway.checkout_payment_method(setup_intent_id)
    except (GatewayUnavailable, UnknownPaymentMethod) as exc:
        raise DomainError(ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE, GATEWAY_DOWN_MESSAGE) from exc
    return await complete_checkout_session(deps, row.user_id, str(row.id), method)


async def _save_card(
    deps: Deps, row: CheckoutSession, payment_method_id: str | None, now: datetime
) -> CompletedCheckout:
    if payment_method_id is None:
        raise DomainError(ErrorCode.PAYMENT_METHOD_REQUIRED, "choose a card", "paymentMethodId")
    await payment_methods.add(
        deps, payment_methods.AddPaymentMethod(row.user_id, payment_method_id, make_default=True)
    )
    await _mark_completed(deps, row.id, None, now)
    return CompletedCheckout(row.success_url, ChargeOutcomeResult(None, None))


async def _mark_completed(
    deps: Deps, session_id: uuid.UUID, subscription_id: uuid.UUID | None, now: datetime
) -> None:
    """An open session is completed once, whichever completion got there first."""
    async with deps.uow() as uow:
        locked = await uow.billing.checkout_session(session_id, lock=True)
        if locked is not None and locked.status == OPEN:
            locked.status, locked.completed_at = COMPLETED, now
            locked.subscription_id = subscription_id
            await uow.commit()


async def _owned(deps: Deps, user_id: str, session_id: str) -> CheckoutSession:
    try:
        wanted = uuid.UUID(session_id)
    except ValueError as exc:
        raise DomainError(ErrorCode.NOT_FOUND, "no such checkout session", "id") from exc
    async with deps.uow() as uow:
        row = await uow.billing.checkout_session(wanted)
    # Someone else's session looks exactly like a missing one.
    if row is None or row.user_id != user_id:
        raise DomainError(ErrorCode.NOT_FOUND, "no such checkout session", "id")
    return row


async def checkout_session(deps: Deps, user_id: str, session_id: str) -> CheckoutSessionView:
    """The session, with the trial this customer would get (the plan's, unless they had
    one: one trial per customer, ever)."""
    row = await _owned(deps, user_id, session_id)
    trial_days = 0
    if row.plan is not None and row.plan.trial_days > 0:
        async with deps.uow() as uow:
            had_trial = await uow.subscriptions.had_trial(user_id)
        trial_days = 0 if had_trial else row.plan.trial_days
    return CheckoutSessionView.of(row, deps.clock.now(), trial_days)


@dataclass(frozen=True)
class CompletedCheckout:
    redirect_url: str | None  # the successUrl once subscribed; None when the payment failed
    outcome: ChargeOutcomeResult


async def complete_checkout_session(
    deps: Deps, user_id: str, session_id: str, payment_method_id: str | None
) -> CompletedCheckout:
    row = await _owned(deps, user_id, session_id)
    now = deps.clock.now()
    if row.status == OPEN and now >= row.expires_at:
        raise DomainError(ErrorCode.INVALID_TRANSITION, "this checkout session expired", "id")
    if row.purpose == ADD_CARD:
        return await _save_card(deps, row, payment_method_id, now)
    assert row.plan is not None
    outcome = await checkout.subscribe(
        deps,
        checkout.Subscribe(
            user_id=user_id,
            plan_code=row.plan.code,
            payment_method_id=payment_method_id,
            # One attempt per session and card: a declined card may be swapped for another.
            idempotency_key=f"checkout:{row.id}:{payment_method_id or 'default'}",
            promotion_code=row.promotion_code,
        ),
    )
    subscribed = outcome.subscription is not None and not outcome.errors
    if subscribed and row.status == OPEN:
        subscription_id = outcome.subscription.id if outcome.subscription else None
        await _mark_completed(deps, row.id, subscription_id, now)
    return CompletedCheckout(row.success_url if subscribed else None, outcome)


CHECKOUT_COMPLETED = "checkout.session.completed"


async def apply_checkout_completed(deps: Deps, message: PaymentResultMessage) -> ResultOutcome:
    """Stripe's `checkout.session.completed`: subscribe with the card it collected. A
    failure raises (the webhook answers 500 and Stripe delivers it again); completion is
    idempotent, and the inbox says when a delivery repeats."""
    obj = (message.payload or {}).get("data", {}).get("object", {})
    session_id, setup_intent = obj.get("id"), obj.get("setup_intent")
    done = None
    if isinstance(session_id, str) and isinstance(setup_intent, str):
        done = await complete_hosted_checkout(deps, session_id, setup_intent)
    outcome = ResultOutcome.APPLIED if done is not None else ResultOutcome.IGNORED
    now = deps.clock.now()
    async with deps.uow() as uow:
        record = InboxRecord(message.source, message.message_id, message.message_type, None)
        if not await uow.messaging.record_messages([record], now):
            return ResultOutcome.DUPLICATE
        await uow.messaging.set_outcomes([(message.source, message.message_id, outcome.value)])
        await uow.commit()
    return outcome
