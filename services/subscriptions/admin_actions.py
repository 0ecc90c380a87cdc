"""Admin suspension: all entitlements revoked until an admin reinstates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import Plan, Subscription
from services.platform.auth import check_user_id
from services.platform.deps import Deps
from services.reads.views import SubscriptionView
from services.store.subscriptions import state_of
from services.subscriptions import lifecycle
from services.subscriptions.current import change_subscription


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
