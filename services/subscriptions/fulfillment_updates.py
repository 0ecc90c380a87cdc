"""Change how a subscription's paid periods are fulfilled (digital, shipping, pickup)."""

from __future__ import annotations

from datetime import datetime

from models import Plan, Subscription
from services.platform.deps import Deps
from services.store.subscriptions import state_of
from services.subscriptions import lifecycle
from services.subscriptions.current import change_subscription
from services.subscriptions.fulfillment import Fulfillment, validate
from services.subscriptions.views import SubscriptionView


async def update_fulfillment(
    deps: Deps, user_id: str, fulfillment: Fulfillment
) -> SubscriptionView:
    channel = validate(fulfillment).to_json()

    def rule(row: Subscription, _: Plan | None, now: datetime) -> lifecycle.Transition:
        transition = lifecycle.change_fulfillment(state_of(row), now)
        row.fulfillment = channel
        return transition

    return await change_subscription(
        deps, user_id, rule, actor=user_id, note=f"fulfillment: {fulfillment.channel.value}"
    )
