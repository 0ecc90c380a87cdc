"""SQLAlchemy tables. Import this package to register every table on `Base.metadata`."""

from models.base import Base
from models.billing import (
    ChargeDeferral,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    Payment,
    PaymentCustomer,
    PaymentMethod,
)
from models.catalog import Plan, PricingRecord
from models.messaging import Broadcast, IdempotencyKey, OutboxEvent, ProcessedMessage
from models.operations import ClockOffset, WorkerHeartbeat
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

__all__ = [
    "Base",
    "Broadcast",
    "ChargeDeferral",
    "ClockOffset",
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
    "QuotaPack",
    "QuotaPackUnits",
    "Subscription",
    "SubscriptionHistory",
    "UsageCounter",
    "UsageEvent",
    "UsageUniqueValue",
    "WorkerHeartbeat",
]
