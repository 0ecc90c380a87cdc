"""Cancel (at period end by default, or now) and resume before the period ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import Subscription
from services import lifecycle
from services.current import change_subscription
from services.deps import Deps
from services.errors import DomainError, ErrorCode
from services.lifecycle import SubscriptionState
from services.views import SubscriptionView

MAX_REASON = 500


@dataclass(frozen=True)
class CancelSubscription:
    user_id: str
    at_period_end: bool = True
    reason: str | None = None


async def cancel(
    deps: Deps, cmd: CancelSubscription, *, actor: str | None = None
) -> SubscriptionView:
    reason = cmd.reason.strip() if cmd.reason else None
    if reason is not None and len(reason) > MAX_REASON:
        raise DomainError(ErrorCode.INVALID_INPUT, f"reason is longer than {MAX_REASON}", "reason")

    def rule(state: SubscriptionState, now: datetime) -> lifecycle.Transition:
        return lifecycle.cancel(state, now, at_period_end=cmd.at_period_end)

    def keep_reason(row: Subscription) -> None:
        row.cancel_reason = reason

    return await change_subscription(
        deps, cmd.user_id, rule, actor=actor or cmd.user_id, note=reason, on_row=keep_reason
    )


async def resume(deps: Deps, user_id: str) -> SubscriptionView:
    def clear_reason(row: Subscription) -> None:
        row.cancel_reason = None

    return await change_subscription(
        deps, user_id, lifecycle.resume, actor=user_id, on_row=clear_reason
    )
