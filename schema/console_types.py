"""GraphQL types beyond the core ones: the console's and the portal's key figures,
hosted checkout, development sign-in, the event log and outbound webhooks."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from schema.enums import WebhookDeliveryStatus, WebhookEndpointStatus
from schema.types import PageInfo, Payment, Subscription, UserError


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
    to: datetime = strawberry.field(
        description="As of when: the `to` asked for, never after the service's clock."
    )
    mrr_cents: int
    new_mrr_cents: int
    expansion_mrr_cents: int
    contraction_mrr_cents: int
    churned_mrr_cents: int
    committed_mrr_cents: int = strawberry.field(
        description="MRR without the subscriptions cancelled at period end."
    )
    paying_subscriptions: int = strawberry.field(description="With MRR at `to`.")
    churn_rate: float | None = strawberry.field(
        description="Of those paying at `from`, the share paying nothing at `to`."
    )
    arpu_cents: int | None = strawberry.field(description="MRR per paying subscription.")
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


# --- the event log and webhooks ------------------------------------------------------


@strawberry.type(description="One event of the log: a CloudEvent (docs/events.md).")
class LoggedEvent:
    id: str = strawberry.field(description="The CloudEvent id; a webhook's `webhook-id`.")
    type: str
    subject: str
    time: datetime
    data: JSON


@strawberry.type
class LoggedEventEdge:
    cursor: str
    node: LoggedEvent


@strawberry.type
class LoggedEventConnection:
    edges: list[LoggedEventEdge]
    page_info: PageInfo


@strawberry.type
class WebhookEndpoint:
    id: strawberry.ID
    url: str
    description: str
    event_types: list[str] = strawberry.field(description="Empty: every type.")
    status: WebhookEndpointStatus
    disabled_reason: str | None
    created_at: datetime
    secret: str | None = strawberry.field(
        description="whsec_…: only in the answer that created or rotated it."
    )


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None
    errors: list[UserError]


@strawberry.type
class WebhookAttempt:
    attempt: int
    status_code: int | None = strawberry.field(description="Null: no HTTP answer.")
    duration_ms: int
    error: str | None
    attempted_at: datetime
    next_attempt_at: datetime | None


@strawberry.type
class WebhookDelivery:
    id: strawberry.ID
    event_id: str
    event_type: str
    status: WebhookDeliveryStatus
    attempts: list[WebhookAttempt]
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


@strawberry.type
class WebhookDeliveryConnection:
    nodes: list[WebhookDelivery]
    page_info: PageInfo


@strawberry.type
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None
    errors: list[UserError]


@strawberry.type
class ReplayWebhooksPayload:
    queued: int = strawberry.field(description="Deliveries queued from the log.")
    errors: list[UserError]
