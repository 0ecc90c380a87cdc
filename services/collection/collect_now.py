"""An overdue invoice collected now instead of at the next retry ("pay now" for the
customer, "retry now" for support), or written off by an admin.

Both bring the subscription's own due moment forward (the next retry, or the end of
grace) and run the scheduler for that one customer, so the charge, the invoice, the
transition, history and events are exactly what the scheduler writes at that moment:
no second way to collect. A retry asked for now counts as one of the policy's retries;
the next one follows the policy's gap from it."""

from __future__ import annotations

import uuid

from models import Subscription
from services.billing.payments import GATEWAY_DOWN_MESSAGE
from services.collection.scheduler import run_due_work
from services.common.errors import DomainError, ErrorCode
from services.platform.auth import check_user_id
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.store.operations import DueScope
from services.subscriptions.current import locked_current
from services.subscriptions.lifecycle import Status
from services.subscriptions.views import ChargeOutcomeResult, SubscriptionView


async def retry_now(deps: Deps, actor: str, user_id: str) -> ChargeOutcomeResult:
    """Charge the open invoice of a PAST_DUE subscription now; answers the subscription
    after it, with the decline as an error if the charge failed."""
    check_user_id(user_id)
    async with deps.uow() as uow:
        row = await _overdue(uow, user_id)
        if not await uow.billing.default_methods({user_id}):
            raise DomainError(
                ErrorCode.PAYMENT_METHOD_REQUIRED, "add a card before paying", "paymentMethodId"
            )
        row.next_retry_at = deps.clock.now()
        subscription_id = row.id
        await uow.commit()
    await run_due_work(deps, scope=DueScope(user_id=user_id), actor=actor)
    view = await _view(deps, subscription_id)
    if view.status is Status.PAST_DUE:
        async with deps.uow() as uow:
            payment, deferral = await uow.billing.collection_state(subscription_id)
        if deferral is not None:  # the gateway did not take the charge: nothing declined
            error = DomainError(ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE, GATEWAY_DOWN_MESSAGE)
        else:
            message = (payment and payment.failure_message) or "the payment was declined"
            error = DomainError(ErrorCode.PAYMENT_DECLINED, message)
        return ChargeOutcomeResult(view, None, (error,))
    return ChargeOutcomeResult(view, None)


async def mark_uncollectible(deps: Deps, actor: str, user_id: str) -> SubscriptionView:
    """End grace now: the open invoice becomes UNCOLLECTIBLE and the subscription what
    its plan's policy makes of an unpaid grace (expired, cancelled or paused)."""
    check_user_id(user_id)
    async with deps.uow() as uow:
        row = await _overdue(uow, user_id)
        row.grace_expires_at = deps.clock.now()
        subscription_id = row.id
        await uow.commit()
    await run_due_work(deps, scope=DueScope(user_id=user_id), actor=actor)
    return await _view(deps, subscription_id)


async def _overdue(uow: UnitOfWork, user_id: str) -> Subscription:
    row = await locked_current(uow, user_id)
    if row.status is not Status.PAST_DUE:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION, f"nothing is overdue ({row.status.value})", "userId"
        )
    return row


async def _view(deps: Deps, subscription_id: uuid.UUID) -> SubscriptionView:
    async with deps.uow() as uow:
        row = await uow.subscriptions.by_id(subscription_id)
        assert row is not None
        return SubscriptionView.of(row, await uow.plans.free_plan(), deps.clock.now())
