"""SQLAlchemy tables. Import this package to register every table on `Base.metadata`."""

from models.base import Base
from models.billing import (
    ChargeDeferral,
    CheckoutSession,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    Payment,
    PaymentCustomer,
    PaymentMethod,
)
from models.catalog import CustomerPrice, Plan, PricingRecord
from models.credits import CreditBalance, CreditEntry, CreditNote, Refund
from models.discounts import Coupon, PromotionCode, SubscriptionDiscount
from models.messaging import Broadcast, IdempotencyKey, OutboxEvent, ProcessedMessage
from models.operations import (
    ClockOffset,
    RetiredNumber,
    TestClock,
    TestClockCustomer,
    WorkerHeartbeat,
)
from models.subscription import Subscription, SubscriptionHistory
from models.usage import (
    Meter,
    PlanQuota,
    QuotaPack,
    QuotaPackUnits,
    UsageCounter,
    UsageEvent,
    UsageUniqueValue,
)
from models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Base",
    "Broadcast",
    "ChargeDeferral",
    "CheckoutSession",
    "ClockOffset",
    "Coupon",
    "CreditBalance",
    "CreditEntry",
    "CreditNote",
    "CustomerPrice",
    "IdempotencyKey",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "Meter",
    "OutboxEvent",
    "Payment",
    "PaymentCustomer",
    "PaymentMethod",
    "Plan",
    "PlanQuota",
    "PricingRecord",
    "ProcessedMessage",
    "PromotionCode",
    "QuotaPack",
    "QuotaPackUnits",
    "Refund",
    "RetiredNumber",
    "Subscription",
    "SubscriptionDiscount",
    "SubscriptionHistory",
    "TestClock",
    "TestClockCustomer",
    "UsageCounter",
    "UsageEvent",
    "UsageUniqueValue",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WorkerHeartbeat",
]
