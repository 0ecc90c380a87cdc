"""Results of use cases that charge: the subscription, the payment, and the business
errors that were committed alongside (a declined card still records the attempt)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from services.billing.payments import PaymentView
from services.common.errors import DomainError, ErrorCode
from services.reads.views import SubscriptionView


@dataclass(frozen=True)
class ChargeOutcomeResult:
    subscription: SubscriptionView | None
    payment: PaymentView | None
    errors: tuple[DomainError, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "subscription_id": str(self.subscription.id) if self.subscription else None,
            "payment": self.payment.to_json() if self.payment else None,
            "errors": errors_json(self.errors),
        }


def errors_json(errors: tuple[DomainError, ...]) -> list[dict[str, Any]]:
    """Business errors as an idempotent result stores them (`stored_errors` reads them)."""
    return [{"code": e.code.value, "message": e.message, "field": e.field} for e in errors]


def stored_errors(data: dict[str, Any]) -> tuple[DomainError, ...]:
    return tuple(
        DomainError(ErrorCode(e["code"]), e["message"], e["field"]) for e in data["errors"]
    )


def stored_subscription_id(data: dict[str, Any]) -> uuid.UUID | None:
    raw = data.get("subscription_id")
    return uuid.UUID(raw) if raw else None


def stored_payment(data: dict[str, Any]) -> PaymentView | None:
    return PaymentView.from_json(data["payment"]) if data.get("payment") else None
