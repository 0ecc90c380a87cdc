"""Stripe, through the `stripe` library (async client).

Customers are created once per user; payment methods are attached with a confirmed
SetupIntent for off-session use; charges are PaymentIntents confirmed at once. Every
call carries an idempotency key derived from our own records, so a retry after a
timeout never charges twice.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe

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
    idempotency_key,
)

log = logging.getLogger(__name__)

_OUTCOME_OF = {
    "succeeded": ChargeOutcome.SUCCEEDED,
    "requires_action": ChargeOutcome.REQUIRES_ACTION,
    "requires_confirmation": ChargeOutcome.REQUIRES_ACTION,
    "requires_payment_method": ChargeOutcome.DECLINED,
    "canceled": ChargeOutcome.CANCELED,
    "processing": ChargeOutcome.PROCESSING,
}
# Errors that mean "could not talk to Stripe properly": nothing we know of was charged.
_UNREACHABLE = (
    stripe.APIConnectionError,
    stripe.APIError,
    stripe.RateLimitError,
    stripe.AuthenticationError,
    stripe.PermissionError,
)


class StripeGateway:
    platform = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout_seconds: float = 10.0,
        max_network_retries: int = 2,
    ) -> None:
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=stripe.HTTPXClient(timeout=timeout_seconds),
            max_network_retries=max_network_retries,
        )

    async def ensure_customer(self, user_id: str, customer_id: str | None) -> str:
        if customer_id:
            return customer_id
        try:
            customer = await self.client.v1.customers.create_async(
                {"metadata": {"user_id": user_id}},
                {"idempotency_key": idempotency_key("customer", user_id)},
            )
        except (*_UNREACHABLE, stripe.InvalidRequestError) as error:
            raise GatewayUnavailable(str(error)) from error
        return str(customer.id)

    async def attach_payment_method(
        self, customer_id: str, payment_method_id: str
    ) -> AttachedMethod:
        try:
            setup = await self.client.v1.setup_intents.create_async(
                {
                    "customer": customer_id,
                    "payment_method": payment_method_id,
                    "confirm": True,
                    "usage": "off_session",
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                },
                {"idempotency_key": idempotency_key("attach", customer_id, payment_method_id)},
            )
            if setup.status != "succeeded" or not setup.payment_method:
                raise UnknownPaymentMethod(f"setup intent {setup.id} is {setup.status}")
            method_id = str(setup.payment_method)
            method = await self.client.v1.payment_methods.retrieve_async(method_id)
        except stripe.CardError as error:
            raise UnknownPaymentMethod(error.user_message or str(error)) from error
        except stripe.InvalidRequestError as error:
            if error.code == "resource_missing":
                raise UnknownPaymentMethod(payment_method_id) from error
            raise GatewayUnavailable(str(error)) from error
        except _UNREACHABLE as error:
            raise GatewayUnavailable(str(error)) from error
        card = method.card
        if card is None:
            raise UnknownPaymentMethod(f"{method_id} is not a card")
        return AttachedMethod(
            method_id, CardDetails(card.brand, card.last4, card.exp_month, card.exp_year)
        )

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        params: dict[str, Any] = {
            "amount": request.amount_cents,
            "currency": request.currency.lower(),
            "customer": request.customer_id,
            "payment_method": request.payment_method_id,
            "confirm": True,
            "off_session": request.off_session,
            "description": request.description,
            "metadata": request.metadata,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
        try:
            intent = await self.client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.CardError as error:
            declined = getattr(error.error, "payment_intent", None) if error.error else None
            return ChargeResult(
                outcome=ChargeOutcome.DECLINED,
                processor_payment_id=str(declined.id) if declined else "",
                processor_status=str(declined.status) if declined else "card_error",
                failure_message=error.user_message or "the card was declined",
            )
        except stripe.InvalidRequestError as error:
            if error.code == "resource_missing":
                raise UnknownPaymentMethod(request.payment_method_id) from error
            log.error("Stripe refused a payment intent: %s", error)
            raise GatewayUnavailable(str(error)) from error
        except _UNREACHABLE as error:
            raise GatewayUnavailable(str(error)) from error
        outcome = _OUTCOME_OF.get(intent.status, ChargeOutcome.PROCESSING)
        # Stripe objects omit absent fields: read optional ones with getattr.
        next_action = getattr(intent, "next_action", None)
        redirect = getattr(next_action, "redirect_to_url", None) if next_action else None
        last_error = getattr(intent, "last_payment_error", None)
        return ChargeResult(
            outcome=outcome,
            processor_payment_id=str(intent.id),
            processor_status=str(intent.status),
            client_secret=(
                getattr(intent, "client_secret", None)
                if outcome is ChargeOutcome.REQUIRES_ACTION
                else None
            ),
            next_action_url=getattr(redirect, "url", None) if redirect else None,
            failure_message=(
                getattr(last_error, "message", None)
                if outcome is ChargeOutcome.DECLINED and last_error
                else None
            ),
        )

    async def create_checkout(self, request: CheckoutRequest) -> HostedCheckout | None:
        """A Stripe Checkout Session in setup mode: Stripe collects the card (never our
        server); its `checkout.session.completed` webhook starts the subscription."""
        params: dict[str, Any] = {
            "mode": "setup",
            "customer": request.customer_id,
            "currency": "usd",
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "metadata": request.metadata,
        }
        try:
            session = await self.client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        except (*_UNREACHABLE, stripe.InvalidRequestError) as error:
            raise GatewayUnavailable(str(error)) from error
        return HostedCheckout(str(session.id), str(session.url))

    async def checkout_payment_method(self, setup_intent_id: str) -> str:
        try:
            setup = await self.client.v1.setup_intents.retrieve_async(setup_intent_id)
        except stripe.InvalidRequestError as error:
            raise UnknownPaymentMethod(setup_intent_id) from error
        except _UNREACHABLE as error:
            raise GatewayUnavailable(str(error)) from error
        if not setup.payment_method:
            raise UnknownPaymentMethod(setup_intent_id)
        return str(setup.payment_method)

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Stripe's Refund API on the payment intent; `charge.refunded` and
        `refund.updated` webhooks report what happens after."""
        params: dict[str, Any] = {
            "payment_intent": request.processor_payment_id,
            "amount": request.amount_cents,
            "metadata": request.metadata,
        }
        try:
            refund = await self.client.v1.refunds.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.InvalidRequestError as error:
            log.error("Stripe refused a refund: %s", error)
            raise GatewayUnavailable(str(error)) from error
        except _UNREACHABLE as error:
            raise GatewayUnavailable(str(error)) from error
        status = str(refund.status)
        settled = {"succeeded": True, "failed": False, "canceled": False}.get(status)
        failure = getattr(refund, "failure_reason", None)
        return RefundResult(str(refund.id), settled, str(failure) if failure else None)
