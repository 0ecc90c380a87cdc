"""The Billing Engine gateway (seed 004): payment intents from a separate engine over
gRPC (`proto/billing_engine.proto`, package `billing.v1`), with grpcio's asyncio API.

Every call has a deadline (`BILLING_ENGINE_TIMEOUT_SECONDS`); an engine that is down,
past its deadline or failing internally is `GatewayUnavailable`, so callers answer
PAYMENT_GATEWAY_UNAVAILABLE and change nothing. Asynchronous outcomes (PROCESSING) come
back as `payment.processed` events on Kafka, which the service already consumes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc

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
    RefundsUnsupported,
    UnknownPaymentMethod,
)
from services.gateway.engine import billing_engine_pb2 as pb
from services.gateway.engine import billing_engine_pb2_grpc as rpc

T = TypeVar("T")
log = logging.getLogger(__name__)
OUTCOMES = {
    pb.SUCCEEDED: ChargeOutcome.SUCCEEDED,
    pb.PROCESSING: ChargeOutcome.PROCESSING,
    pb.REQUIRES_ACTION: ChargeOutcome.REQUIRES_ACTION,
    pb.FAILED: ChargeOutcome.DECLINED,
    pb.CANCELED: ChargeOutcome.CANCELED,
}
PROCESSOR_STATUS = {
    ChargeOutcome.SUCCEEDED: "succeeded",
    ChargeOutcome.PROCESSING: "processing",
    ChargeOutcome.REQUIRES_ACTION: "requires_action",
    ChargeOutcome.DECLINED: "failed",
    ChargeOutcome.CANCELED: "canceled",
}
PURPOSES = {
    "FIRST_PAYMENT": pb.NEW_SUBSCRIPTION,
    "TRIAL_CONVERSION": pb.TRIAL_CONVERSION,
    "RENEWAL": pb.RENEWAL,
    "RETRY": pb.RETRY,
    "UPGRADE": pb.UPGRADE,
}
METHOD_REFUSED = frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT})


def channel_for(
    url: str,
    *,
    tls: bool = False,
    ca_file: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> grpc.aio.Channel:
    """`host:port` (or `dns:///host:port`); TLS with an optional CA and client cert."""
    if not tls:
        return grpc.aio.insecure_channel(url)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca_file.read_bytes() if ca_file else None,
        private_key=key_file.read_bytes() if key_file else None,
        certificate_chain=cert_file.read_bytes() if cert_file else None,
    )
    return grpc.aio.secure_channel(url, credentials)


class BillingEngineGateway:
    """`connect` makes the channel on first use: grpc.aio channels belong to the event
    loop they are made in, and the app is built before its server's loop runs."""

    platform = "billing_engine"

    def __init__(
        self, connect: Callable[[], grpc.aio.Channel], timeout_seconds: float = 5.0
    ) -> None:
        self.connect = connect
        self.timeout_seconds = timeout_seconds
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None

    @property
    def stub(self) -> Any:
        if self._stub is None:
            self._channel = self.connect()
            self._stub = rpc.BillingEngineStub(self._channel)  # type: ignore[no-untyped-call]
        return self._stub

    async def _call(self, method: Callable[..., Awaitable[T]], request: Any) -> T:
        """The call within its deadline. NOT_FOUND / INVALID_ARGUMENT (an unknown payment
        method) are the caller's to answer; any other failure means the engine could not
        do it, and nothing is known to have been charged."""
        try:
            return await method(request, timeout=self.timeout_seconds)
        except grpc.aio.AioRpcError as error:
            if error.code() in METHOD_REFUSED:
                raise
            raise GatewayUnavailable(f"billing engine: {error.code().name}") from error

    async def ensure_customer(self, user_id: str, customer_id: str | None) -> str:
        if customer_id:
            return customer_id
        try:
            customer = await self._call(
                self.stub.EnsureCustomer, pb.EnsureCustomerRequest(user_id=user_id)
            )
        except grpc.aio.AioRpcError as error:
            raise GatewayUnavailable(f"billing engine: {error.code().name}") from error
        return str(customer.customer_id)

    async def attach_payment_method(
        self, customer_id: str, payment_method_id: str
    ) -> AttachedMethod:
        request = pb.AttachPaymentMethodRequest(
            customer_id=customer_id, payment_method_id=payment_method_id
        )
        try:
            method = await self._call(self.stub.AttachPaymentMethod, request)
        except grpc.aio.AioRpcError as error:  # METHOD_REFUSED
            raise UnknownPaymentMethod(payment_method_id) from error
        card = CardDetails(method.brand, method.last4, method.exp_month, method.exp_year)
        return AttachedMethod(method.payment_method_id, card)

    async def create_checkout(self, request: CheckoutRequest) -> HostedCheckout | None:
        return None  # the service's own checkout page offers the test cards

    async def checkout_payment_method(self, setup_intent_id: str) -> str:
        raise UnknownPaymentMethod(setup_intent_id)

    async def refund(self, request: RefundRequest) -> RefundResult:
        """The engine's contract (seed 004) has no refunds."""
        raise RefundsUnsupported("the billing engine takes no refunds")

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        metadata = dict(request.metadata)
        intent_request = pb.CreatePaymentIntentRequest(
            idempotency_key=request.idempotency_key,
            customer_id=request.customer_id,
            user_id=metadata.get("user_id", ""),
            amount_minor=request.amount_cents,
            currency=request.currency.upper(),
            purpose=PURPOSES.get(metadata.get("purpose", ""), pb.PURPOSE_UNSPECIFIED),
            subscription_id=metadata.get("subscription_id", ""),
            invoice_id=metadata.get("invoice_id", ""),
            off_session=request.off_session,
            payment_method_id=request.payment_method_id,
            description=request.description,
            metadata=metadata,
        )
        try:
            intent = await self._call(self.stub.CreatePaymentIntent, intent_request)
        except grpc.aio.AioRpcError as error:  # METHOD_REFUSED
            raise UnknownPaymentMethod(request.payment_method_id) from error
        outcome = OUTCOMES.get(intent.status)
        if outcome is None:
            raise GatewayUnavailable(f"billing engine answered status {intent.status}")
        return ChargeResult(
            outcome=outcome,
            processor_payment_id=intent.intent_id,
            processor_status=PROCESSOR_STATUS[outcome],
            client_secret=intent.client_secret or None,
            failure_message=intent.failure_message or intent.decline_code or None,
        )

    async def intent_status(self, intent_id: str) -> ChargeResult:
        """Where an intent stands now (reconciling PROCESSING ones whose event is late)."""
        intent = await self._call(
            self.stub.GetPaymentIntent, pb.GetPaymentIntentRequest(intent_id=intent_id)
        )
        outcome = OUTCOMES.get(intent.status, ChargeOutcome.PROCESSING)
        return ChargeResult(
            outcome=outcome,
            processor_payment_id=intent.intent_id,
            processor_status=PROCESSOR_STATUS[outcome],
            failure_message=intent.failure_message or intent.decline_code or None,
        )

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel, self._stub = None, None
