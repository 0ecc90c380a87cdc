"""Every way a subscription stops and starts again: cancel (at period end by default,
or now) and resume before the period ends; pause and resume a paused subscription; an
admin's suspension (all entitlements revoked) and reinstatement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import Plan, Subscription
from services.common.errors import DomainError, ErrorCode
from services.common.text import MAX_REASON, check_text
from services.credits.ledger import credit_unused_time
from services.platform.auth import check_user_id
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.store.subscriptions import state_of
from services.subscriptions import lifecycle, pausing
from services.subscriptions.current import Effect, change_subscription
from services.subscriptions.views import SubscriptionView


@dataclass(frozen=True)
class CancelSubscription:
    user_id: str
    at_period_end: bool = True
    reason: str | None = None


# Transitions that end a paid period early: its unused time becomes credit.
ENDS_PAID_TIME = frozenset({"cancelled_immediately", "paused"})


def _unused_time_to_credit(deps: Deps, actor: str) -> Effect:
    async def effect(
        uow: UnitOfWork, row: Subscription, transition: lifecycle.Transition, now: datetime
    ) -> None:
        if transition.reason in ENDS_PAID_TIME and deps.settings.credit_unused_time:
            await credit_unused_time(uow, row, now, actor)

    return effect


async def cancel(
    deps: Deps, cmd: CancelSubscription, *, actor: str | None = None
) -> SubscriptionView:
    reason = cmd.reason.strip() if cmd.reason else None
    if reason is not None and len(reason) > MAX_REASON:
        raise DomainError(ErrorCode.INVALID_INPUT, f"reason is longer than {MAX_REASON}", "reason")

    def rule(row: Subscription, _: Plan | None, now: datetime) -> lifecycle.Transition:
        transition = lifecycle.cancel(state_of(row), now, at_period_end=cmd.at_period_end)
        row.cancel_reason = reason
        return transition

    return await change_subscription(
        deps,
        cmd.user_id,
        rule,
        actor=actor or cmd.user_id,
        note=reason,
        effect=_unused_time_to_credit(deps, actor or cmd.user_id),
    )


@dataclass(frozen=True)
class ActingFor:
    """Support acting for a customer: who, and the reason they typed (the history's note)."""

    admin_id: str
    reason: str

    @classmethod
    def checked(cls, admin_id: str, user_id: str, reason: str) -> ActingFor:
        check_user_id(user_id)
        return cls(admin_id, check_text(reason, "reason", MAX_REASON, required=True))


async def pause(
    deps: Deps, user_id: str, resumes_at: datetime, acting: ActingFor | None = None
) -> SubscriptionView:
    """Billing restarts from the resume date, so the paid time left now is credited to
    the balance (CREDIT_UNUSED_TIME) and spent on the renewal when it resumes."""

    def rule(row: Subscription, _: Plan | None, now: datetime) -> lifecycle.Transition:
        return pausing.pause(state_of(row), resumes_at, now)

    actor = acting.admin_id if acting else user_id
    return await change_subscription(
        deps,
        user_id,
        rule,
        actor=actor,
        note=acting.reason if acting else None,
        effect=_unused_time_to_credit(deps, actor),
    )


async def resume(deps: Deps, user_id: str, acting: ActingFor | None = None) -> SubscriptionView:
    """Undo a cancellation at period end, or resume a paused subscription now (its
    billing restarts from today)."""

    def rule(row: Subscription, _: Plan | None, now: datetime) -> lifecycle.Transition:
        state = state_of(row)
        if state.status is lifecycle.Status.PAUSED:
            return pausing.resume(state, now)
        transition = lifecycle.resume(state, now)
        row.cancel_reason = None
        return transition

    actor, note = (acting.admin_id, acting.reason) if acting else (user_id, None)
    return await change_subscription(deps, user_id, rule, actor=actor, note=note)


@dataclass(frozen=True)
class SuspendSubscription:
    user_id: str
    reason: str | None = None


async def suspend(deps: Deps, admin_id: str, cmd: SuspendSubscription) -> SubscriptionView:
    check_user_id(cmd.user_id)

    def rule(row: Subscription, _: Plan | None, now: datetime) -> lifecycle.Transition:
        return lifecycle.suspend(state_of(row), now)

    return await change_subscription(deps, cmd.user_id, rule, actor=admin_id, note=cmd.reason)


async def reinstate(deps: Deps, admin_id: str, user_id: str) -> SubscriptionView:
    check_user_id(user_id)

    def rule(row: Subscription, _: Plan | None, now: datetime) -> lifecycle.Transition:
        return lifecycle.reinstate(state_of(row), now)

    return await change_subscription(deps, user_id, rule, actor=admin_id)
