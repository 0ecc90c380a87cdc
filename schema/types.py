"""GraphQL object types. Plain data: resolvers/graphql/mapping.py fills them from service views."""

from __future__ import annotations

from datetime import datetime

import strawberry

# The catalog's types live in catalog_types.py; re-exported for the resolvers.
from schema.catalog_types import Meter as Meter
from schema.catalog_types import Plan as Plan

# The catalog's types live in catalog_types.py; re-exported for the resolvers.
from schema.catalog_types import PlanPolicy as PlanPolicy
from schema.catalog_types import PlanQuota as PlanQuota
from schema.context import Context
from schema.enums import (
    FulfillmentChannel,
    InvoiceLineKind,
    InvoiceStatus,
    PaymentConfirmation,
    PaymentOutcome,
    PaymentResult,
    QuotaRefusal,
    SubscriptionStatus,
    TestClockStatus,
    UserErrorCode,
)


@strawberry.type(description="A business error the client can act on; part of every payload.")
class UserError:
    code: UserErrorCode
    field: str | None
    message: str


@strawberry.type(description="The answer to consumeQuota: counted when allowed.")
class QuotaDecision:
    allowed: bool
    remaining: int | None = strawberry.field(description="null: unlimited")
    resets_at: datetime
    reason: QuotaRefusal | None


@strawberry.type(description="A meter after usage was counted, pushed live.")
class QuotaUpdate:
    meter_key: str
    used: int
    remaining: int | None
    resets_at: datetime
    cursor: str = strawberry.field(default="", description="Resume with it as `after`.")


@strawberry.type(description="A meter's usage in the current period.")
class MeterUsage:
    meter_key: str
    used: int
    included_units: int | None
    pack_units_remaining: int
    remaining: int | None
    overage_units: int
    overage_amount_cents: int
    period_start: datetime
    period_end: datetime


@strawberry.type
class MeterPayload:
    meter: Meter | None
    errors: list[UserError]


@strawberry.type
class PlanQuotaPayload:
    quota: PlanQuota | None
    errors: list[UserError]


@strawberry.type
class RecordUsagePayload:
    decision: QuotaDecision | None
    errors: list[UserError]


@strawberry.type(description="What a user may use right now.")
class Entitlements:
    user_id: str
    tier: str
    features: list[str]
    status: SubscriptionStatus | None

    @strawberry.field(description="Usage of each meter the plan includes, this period.")  # type: ignore[untyped-decorator]
    async def quotas(self, info: strawberry.Info[Context, None]) -> list[MeterUsage]:
        return await info.context.type_fields().usage_of_user(info, self.user_id)


@strawberry.type
class Address:
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str
    country: str


@strawberry.type
class Fulfillment:
    channel: FulfillmentChannel
    address: Address | None
    store_id: str | None


@strawberry.type(description="A price change a subscription was moved to, not charged yet.")
class ScheduledPriceChange:
    price_cents: int
    effective_at: datetime = strawberry.field(description="The first invoice that charges it.")


@strawberry.type(description="The customer's own price on the plan (admin), until a moment.")
class PriceOverride:
    price_cents: int
    until: datetime | None


@strawberry.type
class Subscription:
    id: strawberry.ID
    user_id: str
    plan: Plan
    status: SubscriptionStatus
    payment_confirmation: PaymentConfirmation
    current_period_start: datetime | None
    current_period_end: datetime | None
    trial_start: datetime | None
    trial_end: datetime | None
    cancel_at_period_end: bool
    cancelled_at: datetime | None
    cancel_reason: str | None
    activated_at: datetime | None
    grace_expires_at: datetime | None
    next_retry_at: datetime | None = strawberry.field(
        default=None, description="PAST_DUE: when the open invoice is charged again."
    )
    resumes_at: datetime | None = strawberry.field(description="A PAUSED one resumes then.")
    price_paid_cents: int
    price_cents: int = strawberry.field(
        description="Its own price: what its next invoice charges before discounts and usage."
    )
    scheduled_price_change: ScheduledPriceChange | None
    price_override: PriceOverride | None
    currency: str
    pending_plan: Plan | None
    entitlements: Entitlements
    status_updated_at: datetime
    next_charge_at: datetime | None
    next_charge_plan: Plan | None
    fulfillment: Fulfillment | None
    created_at: datetime

    @strawberry.field(description="The coupon it carries now (null: none).")  # type: ignore[untyped-decorator]
    async def discount(self, info: strawberry.Info[Context, None]) -> Discount | None:
        return await info.context.type_fields().subscription_discount(info, str(self.id))


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class InvoiceLine:
    kind: InvoiceLineKind
    description: str
    amount_cents: int
    plan_code: str | None
    period_start: datetime | None
    period_end: datetime | None


@strawberry.type(
    description="Who issues the invoices (SELLER_NAME, SELLER_ADDRESS, SELLER_TAX_ID)."
)
class Seller:
    name: str
    address: str
    tax_id: str


@strawberry.type
class Invoice:
    id: strawberry.ID
    number: str
    user_id: str = strawberry.field(description="The customer billed (the buyer).")
    subscription_id: strawberry.ID | None = strawberry.field(
        description="The subscription billed; null for a quota pack's invoice."
    )
    quota_pack_id: strawberry.ID | None = strawberry.field(
        description="The quota pack bought; null for a subscription's invoice."
    )
    status: InvoiceStatus
    currency: str
    total_cents: int
    amount_paid_cents: int
    amount_refunded_cents: int
    amount_credited_cents: int = strawberry.field(
        description="Unused time given back against this invoice: to the credit balance by an"
        " immediate cancellation or a pause, or toward an upgrade (docs/money.md)."
    )
    period_start: datetime | None
    period_end: datetime | None
    paid_at: datetime | None
    created_at: datetime
    lines: list[InvoiceLine]


@strawberry.type
class InvoiceEdge:
    cursor: str
    node: Invoice


@strawberry.type
class InvoiceConnection:
    edges: list[InvoiceEdge]
    nodes: list[Invoice]
    page_info: PageInfo


@strawberry.type
class SubscriptionEdge:
    cursor: str
    node: Subscription


@strawberry.type
class SubscriptionConnection:
    edges: list[SubscriptionEdge]
    nodes: list[Subscription]
    page_info: PageInfo


@strawberry.type(description="A saved payment method: display data only, never card numbers.")
class PaymentMethod:
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder_name: str | None
    holder_zip: str | None
    is_default: bool
    platform: str


@strawberry.type(description="The result of a charge, and how to finish it if it needs action.")
class Payment:
    id: strawberry.ID | None = strawberry.field(description="Ours: what refundPayment names.")
    status: PaymentResult
    outcome: PaymentOutcome
    amount_cents: int
    currency: str
    invoice_number: str | None
    processor_payment_id: str | None
    client_secret: str | None
    failure_message: str | None


@strawberry.type
class SubscriptionHistoryEntry:
    from_status: SubscriptionStatus | None
    to_status: SubscriptionStatus
    reason: str
    note: str | None
    actor: str
    occurred_at: datetime
    from_plan_code: str | None = strawberry.field(
        default=None, description="The plan before, when this change moved the plan."
    )
    plan_code: str | None = strawberry.field(
        default=None, description="The plan after, when this change moved the plan."
    )


@strawberry.type
class Me:
    user_id: str
    roles: list[str]
    entitlements: Entitlements
    credit_balance_cents: int = strawberry.field(
        description="Credit the next renewal invoices spend before the card is charged."
    )
    credit_currency: str | None = strawberry.field(description="The balance's currency.")


@strawberry.type
class SubscriptionStatusInfo:
    user_id: str
    status: SubscriptionStatus | None
    plan_code: str
    tier: str
    features: list[str]
    current_period_end: datetime | None


@strawberry.type
class SubscriptionPayload:
    subscription: Subscription | None
    payment: Payment | None
    errors: list[UserError]


@strawberry.type(description="The coupon a subscription carries now.")
class Discount:
    coupon_code: str
    percent_off: int | None
    amount_off_cents: int | None
    cycles_left: int | None = strawberry.field(description="Invoices it still covers; null: all.")
    ends_at: datetime | None = strawberry.field(description="Its last period's end; null: never.")


@strawberry.type
class PlanPayload:
    plan: Plan | None
    errors: list[UserError]


@strawberry.type
class PaymentMethodPayload:
    payment_method: PaymentMethod | None
    errors: list[UserError]


@strawberry.type(
    description="A test clock (TEST_CLOCK=1): one of its own for the customers attached"
    " to it, or, without an id, the service-wide clock everyone else is on."
)
class TestClock:
    now: datetime
    applied: int = strawberry.field(description="Subscriptions acted on by this advance.")
    id: strawberry.ID | None = None
    name: str | None = None
    status: TestClockStatus | None = None
    customers: list[str] = strawberry.field(default_factory=list)


@strawberry.type
class TestClockPayload:
    test_clock: TestClock | None
    errors: list[UserError]


@strawberry.type(
    description="The next renewal's invoice before it exists: the price in force and the "
    "usage so far past the included units."
)
class UpcomingInvoice:
    currency: str
    total_cents: int
    due_at: datetime
    lines: list[InvoiceLine]


@strawberry.type(description="What changing to a plan would charge, and when it applies.")
class PlanChangePreview:
    plan_code: str
    is_upgrade: bool
    amount_due_cents: int
    currency: str
    effective_at: datetime
    lines: list[InvoiceLine]
    credit_cents: int = strawberry.field(
        default=0,
        description="Added to the credit balance: an immediate prorated downgrade's unused"
        " time less the new plan's share.",
    )


@strawberry.type(description="A committed change of a subscription's status, pushed live.")
class SubscriptionStatusEvent:
    user_id: str
    subscription_id: strawberry.ID
    status: SubscriptionStatus
    previous_status: SubscriptionStatus | None
    plan_code: str
    tier: str
    entitlements: list[str]
    reason: str
    actor: str
    occurred_at: datetime
    cursor: str = strawberry.field(
        default="", description="The event log cursor: resume with it as `after`."
    )
