"""A payment gateway that settles in-process, for development and the embedded default.

Its test payment methods are named like Stripe's test cards, so a frontend built
against it works unchanged against Stripe's test mode.
"""

from __future__ import annotations

import hashlib
import secrets

from services.gateway.base import (
    AttachedMethod,
    CardDetails,
    ChargeOutcome,
    ChargeRequest,
    ChargeResult,
    CheckoutRequest,
    GatewayUnavailable,
    HostedCheckout,
    RefundRequest,
    RefundResult,
    UnknownPaymentMethod,
)

TEST_CARDS: dict[str, tuple[CardDetails, ChargeOutcome]] = {
    "pm_card_visa": (CardDetails("visa", "4242", 12, 2034), ChargeOutcome.SUCCEEDED),
    "pm_card_mastercard": (CardDetails("mastercard", "4444", 12, 2034), ChargeOutcome.SUCCEEDED),
    "pm_card_chargeDeclined": (CardDetails("visa", "0002", 12, 2034), ChargeOutcome.DECLINED),
    "pm_card_authenticationRequired": (
        CardDetails("visa", "3184", 12, 2034),
        ChargeOutcome.REQUIRES_ACTION,
    ),
}


SAVED_PREFIX = "pm_local_"


def saved_method_id(test_card: str) -> str:
    """Saved ids name their test card, so they keep working after a restart."""
    return f"{SAVED_PREFIX}{test_card.removeprefix('pm_card_')}_{secrets.token_hex(8)}"


def test_card_of(payment_method_id: str) -> str | None:
    """The test card behind a test token or a saved id, if any."""
    if payment_method_id in TEST_CARDS:
        return payment_method_id
    if payment_method_id.startswith(SAVED_PREFIX):
        name = payment_method_id.removeprefix(SAVED_PREFIX).rsplit("_", 1)[0]
        card = f"pm_card_{name}"
        return card if card in TEST_CARDS else None
    return None


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class LocalGateway:
    platform = "local"

    def __init__(self) -> None:
        self.available = True
        # Replays by idempotency key return the first result, as Stripe does.
        self._charges: dict[str, ChargeResult] = {}
        self.charge_count = 0

    def _check_reachable(self) -> None:
        if not self.available:
            raise GatewayUnavailable("the local payment gateway is switched off")

    async def ensure_customer(self, user_id: str, customer_id: str | None) -> str:
        self._check_reachable()
        return customer_id or f"cus_local_{_short_hash(user_id)}"

    async def attach_payment_method(
        self, customer_id: str, payment_method_id: str
    ) -> AttachedMethod:
        self._check_reachable()
        test_card = test_card_of(payment_method_id)
        if test_card is None:
            raise UnknownPaymentMethod(payment_method_id)
        if payment_method_id.startswith(SAVED_PREFIX):
            return AttachedMethod(payment_method_id, TEST_CARDS[test_card][0])
        # Like Stripe, a test token becomes a new saved method each time it is used.
        return AttachedMethod(saved_method_id(test_card), TEST_CARDS[test_card][0])

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        self._check_reachable()
        previous = self._charges.get(request.idempotency_key)
        if previous is not None:
            return previous
        test_card = test_card_of(request.payment_method_id)
        if test_card is None:
            raise UnknownPaymentMethod(request.payment_method_id)
        card = TEST_CARDS[test_card]
        outcome = card[1]
        if outcome is ChargeOutcome.REQUIRES_ACTION and request.off_session:
            # Off-session there is nobody to authenticate: Stripe declines.
            outcome = ChargeOutcome.DECLINED
        payment_id = f"pi_local_{_short_hash(request.idempotency_key)}"
        result = ChargeResult(
            outcome=outcome,
            processor_payment_id=payment_id,
            processor_status={
                ChargeOutcome.SUCCEEDED: "succeeded",
                ChargeOutcome.DECLINED: "requires_payment_method",
                ChargeOutcome.REQUIRES_ACTION: "requires_action",
                ChargeOutcome.CANCELED: "canceled",
                ChargeOutcome.PROCESSING: "processing",
            }[outcome],
            client_secret=f"{payment_id}_secret"
            if outcome is ChargeOutcome.REQUIRES_ACTION
            else None,
            failure_message="Your card was declined."
            if outcome is ChargeOutcome.DECLINED
            else None,
        )
        self._charges[request.idempotency_key] = result
        self.charge_count += 1
        return result

    async def create_checkout(self, request: CheckoutRequest) -> HostedCheckout | None:
        return None  # the service's own checkout page offers the test cards

    async def checkout_payment_method(self, setup_intent_id: str) -> str:
        raise UnknownPaymentMethod(setup_intent_id)

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Test-mode refunds always succeed, once per idempotency key."""
        self._check_reachable()
        return RefundResult(f"re_local_{_short_hash(request.idempotency_key)}", succeeded=True)
