"""GraphQL types for the money operations: quota packs, coupons and promotion codes,
previews, the credit ledger, refunds and credit notes, payments as support sees them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.enums import (
    CouponDuration,
    CreditKind,
    ExistingSubscribers,
    PackStatus,
    PaymentPurpose,
    PaymentResult,
    RefundStatus,
)
from schema.types import InvoiceLine, PageInfo, Payment, UserError


@strawberry.type(description="What a coupon takes off, for how long, and how often it was used.")
class Coupon:
    code: str
    name: str
    percent_off: int | None
    amount_off_cents: int | None
    currency: str | None
    duration: CouponDuration
    duration_in_cycles: int | None
    applies_to_plans: list[str]
    max_redemptions: int | None
    times_redeemed: int
    redeem_by: datetime | None
    archived: bool
    max_redemptions_per_customer: int | None


@strawberry.type(description="A code customers type to get a coupon's discount.")
class PromotionCode:
    code: str
    coupon_code: str
    max_redemptions: int | None
    times_redeemed: int
    expires_at: datetime | None
    first_time_only: bool
    active: bool


@strawberry.type
class CouponPayload:
    coupon: Coupon | None
    errors: list[UserError]


@strawberry.type
class PromotionCodePayload:
    promotion_code: PromotionCode | None
    errors: list[UserError]


@strawberry.type(description="What subscribing would charge, and when.")
class SubscribePreview:
    plan_code: str
    currency: str
    trial_days: int
    amount_due_now_cents: int
    first_charge_at: datetime
    first_charge_cents: int
    lines: list[InvoiceLine]


@strawberry.type(description="One change of a customer's credit balance.")
class CreditEntry:
    id: strawberry.ID
    amount_cents: int
    balance_after_cents: int
    currency: str
    kind: CreditKind
    reason: str
    invoice_id: strawberry.ID | None
    created_at: datetime


@strawberry.type
class CreditEntryEdge:
    cursor: str
    node: CreditEntry


@strawberry.type
class CreditEntryConnection:
    edges: list[CreditEntryEdge]
    nodes: list[CreditEntry]
    page_info: PageInfo


@strawberry.type
class CreditEntryPayload:
    entry: CreditEntry | None
    errors: list[UserError]


@strawberry.type
class CreditNoteLine:
    description: str
    amount_cents: int


@strawberry.type(description="What a refund took off an invoice, with its own gapless number.")
class CreditNote:
    number: str
    invoice_id: strawberry.ID
    amount_cents: int
    currency: str
    reason: str
    lines: list[CreditNoteLine]
    created_at: datetime


@strawberry.type
class Refund:
    id: strawberry.ID
    payment_id: strawberry.ID
    invoice_id: strawberry.ID
    amount_cents: int
    currency: str
    status: RefundStatus
    reason: str
    to_credit_balance: bool
    credit_note: CreditNote | None
    created_at: datetime


@strawberry.type
class RefundPayload:
    refund: Refund | None
    errors: list[UserError]


@strawberry.type(description="A payment as support sees it: what it was for, what came back.")
class PaymentRecord:
    id: strawberry.ID
    purpose: PaymentPurpose
    status: PaymentResult
    amount_cents: int
    amount_refunded_cents: int
    currency: str
    invoice_number: str | None
    created_at: datetime


@strawberry.type(description="A pack's units of one meter, and how many were used.")
class QuotaPackUnits:
    meter_key: str
    units: int
    used_units: int


@strawberry.type(description="A plan of kind QUOTA, bought once.")
class QuotaPack:
    id: strawberry.ID
    plan_code: str
    status: PackStatus
    units: list[QuotaPackUnits]
    expires_at: datetime | None
    purchased_at: datetime | None
    created_at: datetime


@strawberry.type
class QuotaPackPayload:
    pack: QuotaPack | None
    payment: Payment | None
    errors: list[UserError]


@strawberry.type
class PricingRecord:
    plan_code: str
    price_cents: int
    previous_price_cents: int | None
    currency: str
    description: str
    changed_by: str
    changed_at: datetime
    note: str | None = strawberry.field(
        description="The admin's reason (never shown to customers)."
    )
    existing_subscribers: ExistingSubscribers = strawberry.field(
        description="What the change did to the plan's current subscribers."
    )
    move_at: datetime | None = strawberry.field(
        description="With MOVE_AT: their first invoice on or after this charges the new price."
    )


@strawberry.type(description="What a price change would do, before it is made.")
class PlanPricePreview:
    subscribers_keeping: int = strawberry.field(
        description="Current subscribers who keep their own price under KEEP_PRICE."
    )
    subscribers_moving: int = strawberry.field(
        description="Current subscribers MOVE_AT would move to the new price."
    )
    monthly_recurring_delta_cents: int = strawberry.field(
        description="The change of monthly recurring revenue if they moved (paying ones;"
        " 0 under KEEP_PRICE until new subscribers come)."
    )


@strawberry.type(description="A customer's own price on a plan.")
class CustomerPrice:
    user_id: str
    plan_code: str
    price_cents: int
    until: datetime | None


@strawberry.type
class CustomerPricePayload:
    customer_price: CustomerPrice | None
    errors: list[UserError]


@strawberry.type(description="An invoice the simulation expects: nothing is written.")
class SimulatedInvoice:
    due_at: datetime
    total_cents: int
    currency: str
    lines: list[InvoiceLine]
