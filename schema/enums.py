"""GraphQL enums, exposed from the domain's own enums so the two never drift.

`strawberry.enum` registers a GraphQL definition on the class itself, so the domain
classes are used directly under their GraphQL names.
"""

from __future__ import annotations

import strawberry

from services.billing_rules import InvoiceStatus
from services.billing_rules import LineKind as InvoiceLineKind
from services.billing_rules import PaymentStatus as PaymentResult
from services.catalog_rules import PlanKind
from services.errors import ErrorCode as UserErrorCode
from services.fulfillment import Channel as FulfillmentChannel
from services.gateway.base import ChargeOutcome as PaymentOutcome
from services.lifecycle import PaymentConfirmation
from services.lifecycle import Status as SubscriptionStatus
from services.periods import Interval as BillingInterval

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
):
    strawberry.enum(_enum, name=_name)

__all__ = [
    "BillingInterval",
    "FulfillmentChannel",
    "InvoiceLineKind",
    "InvoiceStatus",
    "PaymentConfirmation",
    "PaymentOutcome",
    "PaymentResult",
    "PlanKind",
    "SubscriptionStatus",
    "UserErrorCode",
]
