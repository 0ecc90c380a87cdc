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

__all__ = [
    "Base",
    "Broadcast",
    "ChargeDeferral",
    "ClockOffset",
    "IdempotencyKey",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "OutboxEvent",
    "Payment",
    "PaymentCustomer",
    "PaymentMethod",
    "Plan",
    "PricingRecord",
    "ProcessedMessage",
    "Subscription",
    "SubscriptionHistory",
    "WorkerHeartbeat",
]
