"""GraphQL types the admin console and the customer portal use beyond the core ones:
key figures, hosted checkout, development sign-in."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.types import Payment, Subscription, UserError


@strawberry.type
class CountBy:
    key: str
    count: int


@strawberry.type
class MetricsPoint:
    at: datetime
    mrr_cents: int
    active_subscriptions: int


@strawberry.type(
    description="Key figures over a range, computed in SQL (docs/api.md, Console and portal)."
)
class Metrics:
    from_: datetime = strawberry.field(name="from")
    to: datetime
    mrr_cents: int
    new_mrr_cents: int
    expansion_mrr_cents: int
    contraction_mrr_cents: int
    churned_mrr_cents: int
    subscriptions_by_status: list[CountBy]
    active_subscriptions_by_plan: list[CountBy]
    trials_ended: int
    trials_converted: int
    trial_conversion_rate: float | None
    past_due_amount_cents: int
    series: list[MetricsPoint]


@strawberry.type(description="A hosted checkout: redirect the browser to its url.")
class CheckoutSession:
    id: strawberry.ID
    url: str
    status: str
    purpose: str = strawberry.field(description="SUBSCRIBE, or ADD_CARD (saves a card only).")
    plan_code: str | None
    plan_name: str | None
    price_cents: int | None
    currency: str | None
    promotion_code: str | None
    success_url: str
    cancel_url: str
    expires_at: datetime
    trial_days: int = strawberry.field(
        description="The free trial this customer starts with (0: the plan has none, or"
        " they had their trial)."
    )


@strawberry.type
class CheckoutSessionPayload:
    session: CheckoutSession | None
    errors: list[UserError]


@strawberry.type
class CompleteCheckoutPayload:
    redirect_url: str | None
    subscription: Subscription | None
    payment: Payment | None
    errors: list[UserError]


@strawberry.type
class DevelopmentTokenPayload:
    token: str | None
    expires_at: datetime | None
    errors: list[UserError]
