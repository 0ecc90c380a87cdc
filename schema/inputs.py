"""GraphQL inputs. Shape and types are checked by GraphQL; rules by the services."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.enums import (
    AfterGrace,
    BillingInterval,
    ChangeTiming,
    CouponDuration,
    ExistingSubscribers,
    FulfillmentChannel,
    MeterAggregation,
    PlanKind,
    Proration,
    SubscriptionStatus,
)


@strawberry.input
class AddressInput:
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None
    region: str | None = None


@strawberry.input
class FulfillmentInput:
    channel: FulfillmentChannel
    address: AddressInput | None = None
    store_id: str | None = None


@strawberry.input
class SubscribeInput:
    plan_code: str
    payment_method_id: str | None = None
    fulfillment: FulfillmentInput | None = None
    idempotency_key: str | None = None
    promotion_code: str | None = None


@strawberry.input
class CreateCouponInput:
    code: str
    name: str
    duration: CouponDuration
    percent_off: int | None = None
    amount_off_cents: int | None = None
    currency: str | None = None
    duration_in_cycles: int | None = None
    applies_to_plans: list[str] = strawberry.field(default_factory=list)
    max_redemptions: int | None = None
    redeem_by: datetime | None = None
    max_redemptions_per_customer: int | None = strawberry.field(
        default=1,
        description="How often one customer may redeem it, across all their subscriptions"
        " (null: no limit per customer).",
    )


@strawberry.input
class ArchiveCouponInput:
    code: str


@strawberry.input
class CreatePromotionCodeInput:
    coupon_code: str
    code: str
    max_redemptions: int | None = None
    expires_at: datetime | None = None
    first_time_only: bool = False


@strawberry.input
class AdjustCreditInput:
    user_id: str
    amount_cents: int
    currency: str
    reason: str


@strawberry.input
class RefundPaymentInput:
    payment_id: str
    reason: str
    amount_cents: int | None = None
    to_credit_balance: bool = False
    idempotency_key: str | None = None


@strawberry.input
class CreateCheckoutSessionInput:
    plan_code: str
    success_url: str
    cancel_url: str
    promotion_code: str | None = None


@strawberry.input
class CreatePaymentMethodSessionInput:
    success_url: str
    cancel_url: str


@strawberry.input
class CompleteCheckoutSessionInput:
    id: strawberry.ID
    payment_method_id: str | None = None


@strawberry.input
class DevelopmentTokenInput:
    user_id: str
    admin: bool = False


@strawberry.input
class ApplyPromotionCodeInput:
    code: str


@strawberry.input
class UpgradeInput:
    plan_code: str
    idempotency_key: str | None = None


@strawberry.input
class DowngradeInput:
    plan_code: str


@strawberry.input
class PauseSubscriptionInput:
    resumes_at: datetime


@strawberry.input
class CancelSubscriptionInput:
    at_period_end: bool = True
    reason: str | None = None


@strawberry.input
class CreatePlanInput:
    code: str
    name: str
    price_cents: int
    currency: str
    interval: BillingInterval
    interval_count: int = 1
    tier_rank: int
    kind: PlanKind = PlanKind.SUBSCRIPTION
    description: str = ""
    trial_days: int | None = None
    entitlements: list[str] = strawberry.field(default_factory=list)
    grace_entitlements: list[str] = strawberry.field(default_factory=list)
    valid_days: int | None = strawberry.field(
        default=None, description="QUOTA plans only: packs expire this long after purchase."
    )


@strawberry.input
class UpdatePlanInput:
    code: str
    name: str | None = None
    description: str | None = None
    trial_days: int | None = None
    tier_rank: int | None = None
    entitlements: list[str] | None = None
    grace_entitlements: list[str] | None = None
    valid_days: int | None = None


@strawberry.input
class ArchivePlanInput:
    code: str


@strawberry.input
class SetPlanPriceInput:
    plan_code: str
    price_cents: int
    currency: str
    description: str | None = strawberry.field(
        default=None,
        deprecation_reason="Set the public description with updatePlan; use note for the reason.",
    )
    note: str | None = strawberry.field(
        default=None, description="The internal reason, kept in pricingHistory."
    )
    existing_subscribers: ExistingSubscribers = ExistingSubscribers.KEEP_PRICE
    move_at: datetime | None = strawberry.field(
        default=None,
        description="With MOVE_AT: at least PRICE_NOTICE_DAYS ahead; each subscription's first"
        " invoice on or after it charges the new price.",
    )


@strawberry.input(description="Each field left out keeps the plan's current value.")
class SetPlanPolicyInput:
    plan_code: str
    proration: Proration | None = None
    upgrade_timing: ChangeTiming | None = None
    downgrade_timing: ChangeTiming | None = None
    retry_days: list[int] | None = strawberry.field(
        default=None, description="Rising, each from 1 to graceDays - 1; [] for no retries."
    )
    grace_days: int | None = strawberry.field(default=None, description="0 to 60.")
    after_grace: AfterGrace | None = None
    grace_entitlements: list[str] | None = None


@strawberry.input
class SuspendSubscriptionInput:
    user_id: str
    reason: str | None = None


@strawberry.input
class ReinstateSubscriptionInput:
    user_id: str


@strawberry.input
class SubscriptionFilterInput:
    status: SubscriptionStatus | None = None
    plan_code: str | None = None
    user_id: str | None = None
    user_id_prefix: str | None = strawberry.field(
        default=None, description="User ids starting with it."
    )


@strawberry.input
class AddPaymentMethodInput:
    payment_method_id: str
    holder_name: str | None = None
    holder_zip: str | None = None
    make_default: bool = False


@strawberry.input
class PaymentMethodIdInput:
    payment_method_id: str


@strawberry.input
class UpdateFulfillmentInput:
    fulfillment: FulfillmentInput


@strawberry.input
class AdminEventFilter:
    status: SubscriptionStatus | None = None
    plan_code: str | None = None
    user_id: str | None = None


@strawberry.input
class CreateMeterInput:
    key: str
    name: str
    unit: str
    aggregation: MeterAggregation
    feature: str | None = strawberry.field(
        default=None, description="The entitlement that unlocks the meter (the key by default)."
    )


@strawberry.input
class ArchiveMeterInput:
    key: str


@strawberry.input
class SetPlanQuotaInput:
    plan_code: str
    meter_key: str
    included_units: int | None = strawberry.field(description="null: unlimited")
    overage_unit_price_cents: int = 0
    hard_limit: bool = True


@strawberry.input
class RecordUsageInput:
    user_id: str
    meter_key: str
    quantity: int
    event_id: str
    occurred_at: datetime | None = None
    value: str | None = strawberry.field(
        default=None, description="What a UNIQUE_COUNT meter counts distinct."
    )


@strawberry.input
class PurchaseQuotaPackInput:
    plan_code: str
    payment_method_id: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class ConsumeQuotaInput:
    user_id: str
    meter_key: str
    event_id: str
    quantity: int = 1


@strawberry.input
class SetCustomerPriceInput:
    user_id: str
    plan_code: str
    price_cents: int
    until: datetime | None = strawberry.field(
        default=None, description="Null: until removed (removeCustomerPrice)."
    )


@strawberry.input
class RemoveCustomerPriceInput:
    user_id: str
    plan_code: str


@strawberry.input
class CreateWebhookEndpointInput:
    url: str
    event_types: list[str] = strawberry.field(
        default_factory=list, description="Event types to send; empty: every type."
    )
    description: str = ""


@strawberry.input(description="Fields left out keep their value.")
class UpdateWebhookEndpointInput:
    endpoint_id: strawberry.ID
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None


@strawberry.input
class WebhookEndpointIdInput:
    endpoint_id: strawberry.ID


@strawberry.input
class ReplayWebhooksInput:
    endpoint_id: strawberry.ID
    since: datetime = strawberry.field(description="Every logged event from then on.")
