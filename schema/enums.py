"""GraphQL enums, exposed from the domain's own enums so the two never drift.

`strawberry.enum` registers a GraphQL definition on the class itself, so the domain
classes are used directly under their GraphQL names.
"""

from __future__ import annotations

import strawberry

from services.billing.rules import InvoiceStatus, PaymentPurpose
from services.billing.rules import LineKind as InvoiceLineKind
from services.billing.rules import PaymentStatus as PaymentResult
from services.clocks.control import ClockStatus as TestClockStatus
from services.common.errors import ErrorCode as UserErrorCode
from services.credits.rules import CreditKind, RefundStatus
from services.discounts.rules import Duration as CouponDuration
from services.gateway.base import ChargeOutcome as PaymentOutcome
from services.pricing.periods import Interval as BillingInterval
from services.pricing.policy import AfterGrace, ChangeTiming, Proration
from services.pricing.rules import ExistingSubscribers, PlanKind
from services.subscriptions.fulfillment import Channel as FulfillmentChannel
from services.subscriptions.lifecycle import PaymentConfirmation
from services.subscriptions.lifecycle import Status as SubscriptionStatus
from services.usage.rules import Aggregation as MeterAggregation
from services.usage.rules import PackStatus
from services.usage.rules import Refusal as QuotaRefusal
from services.webhooks.rules import DeliveryStatus as WebhookDeliveryStatus
from services.webhooks.rules import EndpointStatus as WebhookEndpointStatus

for _enum, _name in (
    (SubscriptionStatus, "SubscriptionStatus"),
    (PaymentConfirmation, "PaymentConfirmation"),
    (PlanKind, "PlanKind"),
    (BillingInterval, "BillingInterval"),
    (InvoiceStatus, "InvoiceStatus"),
    (InvoiceLineKind, "InvoiceLineKind"),
    (PaymentResult, "PaymentResult"),
    (PaymentOutcome, "PaymentOutcome"),
    (FulfillmentChannel, "FulfillmentChannel"),
    (UserErrorCode, "UserErrorCode"),
    (MeterAggregation, "MeterAggregation"),
    (QuotaRefusal, "QuotaRefusal"),
    (PackStatus, "PackStatus"),
    (CouponDuration, "CouponDuration"),
    (CreditKind, "CreditKind"),
    (RefundStatus, "RefundStatus"),
    (PaymentPurpose, "PaymentPurpose"),
    (ExistingSubscribers, "ExistingSubscribers"),
    (Proration, "Proration"),
    (ChangeTiming, "ChangeTiming"),
    (AfterGrace, "AfterGrace"),
    (WebhookEndpointStatus, "WebhookEndpointStatus"),
    (WebhookDeliveryStatus, "WebhookDeliveryStatus"),
    (TestClockStatus, "TestClockStatus"),
):
    strawberry.enum(_enum, name=_name)

__all__ = [
    "AfterGrace",
    "BillingInterval",
    "ChangeTiming",
    "CouponDuration",
    "CreditKind",
    "ExistingSubscribers",
    "FulfillmentChannel",
    "InvoiceLineKind",
    "InvoiceStatus",
    "MeterAggregation",
    "PackStatus",
    "PaymentConfirmation",
    "PaymentOutcome",
    "PaymentPurpose",
    "PaymentResult",
    "PlanKind",
    "Proration",
    "QuotaRefusal",
    "RefundStatus",
    "SubscriptionStatus",
    "TestClockStatus",
    "UserErrorCode",
    "WebhookDeliveryStatus",
    "WebhookEndpointStatus",
]
