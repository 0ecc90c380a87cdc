"""The payment gateway interface. The service owns the state machine and only asks a
gateway for customers, saved methods and payment intents; card data never passes here."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class ChargeOutcome(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    DECLINED = "DECLINED"
    REQUIRES_ACTION = "REQUIRES_ACTION"
    PROCESSING = "PROCESSING"  # accepted, result to follow (a webhook settles it)
    CANCELED = "CANCELED"


@dataclass(frozen=True)
class CardDetails:
    """Display data only: what a UI shows next to a saved card."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class AttachedMethod:
    """A method saved on the processor's customer. The id may differ from the one the
    client sent: test tokens such as `pm_card_visa` become a new method on each use."""

    payment_method_id: str
    card: CardDetails


@dataclass(frozen=True)
class ChargeRequest:
    customer_id: str
    payment_method_id: str
    amount_cents: int
    currency: str
    description: str
    idempotency_key: str
    off_session: bool
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChargeResult:
    outcome: ChargeOutcome
    processor_payment_id: str
    processor_status: str
    client_secret: str | None = None
    next_action_url: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class RefundRequest:
    processor_payment_id: str
    amount_cents: int
    currency: str
    idempotency_key: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    processor_refund_id: str
    succeeded: bool | None  # None: pending at the processor (a webhook settles it)
    failure_message: str | None = None


@dataclass(frozen=True)
class CheckoutRequest:
    customer_id: str
    success_url: str
    cancel_url: str
    idempotency_key: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HostedCheckout:
    processor_session_id: str
    url: str


def idempotency_key(*parts: str) -> str:
    """A processor idempotency key derived from our own identifiers: the same request
    always carries the same key, so a retry never charges twice."""
    return "subsvc_" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


class GatewayUnavailable(Exception):
    """The processor could not be reached or errored; nothing was charged that we know of."""


class UnknownPaymentMethod(Exception):
    """The processor does not know this payment method."""


class RefundsUnsupported(Exception):
    """This processor takes no refunds from us (refund to the credit balance instead)."""


class PaymentGateway(Protocol):
    platform: str

    async def ensure_customer(self, user_id: str, customer_id: str | None) -> str: ...

    async def attach_payment_method(
        self, customer_id: str, payment_method_id: str
    ) -> AttachedMethod: ...

    async def charge(self, request: ChargeRequest) -> ChargeResult: ...

    async def refund(self, request: RefundRequest) -> RefundResult: ...

    async def create_checkout(self, request: CheckoutRequest) -> HostedCheckout | None:
        """The processor's hosted page that collects a card, or None: use ours."""
        ...

    async def checkout_payment_method(self, setup_intent_id: str) -> str:
        """The card a completed hosted checkout collected."""
        ...
