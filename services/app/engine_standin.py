"""A stand-in Billing Engine for tests and for trying the gRPC gateway:

    python main.py billing-engine [--port 50051] [--kafka host:port]

It serves `billing.v1.BillingEngine` with the local gateway's test cards
(`pm_card_visa` succeeds, `pm_card_chargeDeclined` fails, `pm_card_authenticationRequired`
needs action) plus two asynchronous ones, `pm_card_asyncSuccess` and
`pm_card_asyncDecline`: their intents answer PROCESSING and the outcome follows a
moment later as a `payment.processed` event (on Kafka with `--kafka`), as a real engine
reports what its processor settled.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc

from services.gateway.base import CardDetails, ChargeOutcome
from services.gateway.engine import billing_engine_pb2 as pb
from services.gateway.engine import billing_engine_pb2_grpc as rpc
from services.gateway.local import TEST_CARDS
from services.messaging.publisher import OutboundMessage, Publisher

ASYNC_CARDS = {
    "pm_card_asyncSuccess": (CardDetails("visa", "1001", 12, 2034), "succeeded"),
    "pm_card_asyncDecline": (CardDetails("visa", "1002", 12, 2034), "failed"),
}
STATUS_OF = {
    ChargeOutcome.SUCCEEDED: pb.SUCCEEDED,
    ChargeOutcome.DECLINED: pb.FAILED,
    ChargeOutcome.REQUIRES_ACTION: pb.REQUIRES_ACTION,
}
SAVED_PREFIX = "pm_engine_"


def _card_name(payment_method_id: str) -> str | None:
    """The test card behind a token or a saved id."""
    if payment_method_id in TEST_CARDS or payment_method_id in ASYNC_CARDS:
        return payment_method_id
    if payment_method_id.startswith(SAVED_PREFIX):
        name = "pm_card_" + payment_method_id.removeprefix(SAVED_PREFIX).rsplit("_", 1)[0]
        return name if name in TEST_CARDS or name in ASYNC_CARDS else None
    return None


@dataclass
class StandInEngine(rpc.BillingEngineServicer):
    """The engine's behaviour; `available` and `delay_seconds` let tests make it
    unreachable or slower than the caller's deadline."""

    publisher: Publisher | None = None
    topic: str = "payment.processed"
    settle_after_seconds: float = 0.2
    available: bool = True
    delay_seconds: float = 0.0
    intents: dict[str, Any] = field(default_factory=dict)  # intent id -> PaymentIntent
    by_key: dict[str, str] = field(default_factory=dict)  # idempotency key -> intent id
    created: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def _gate(self, context: grpc.aio.ServicerContext) -> None:
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if not self.available:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the stand-in engine is off")

    async def EnsureCustomer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._gate(context)
        digest = hashlib.sha256(request.user_id.encode()).hexdigest()[:24]
        return pb.Customer(customer_id=f"cus_engine_{digest}")

    async def AttachPaymentMethod(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._gate(context)
        name = _card_name(request.payment_method_id)
        if name is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown payment method")
        assert name is not None
        card = TEST_CARDS[name][0] if name in TEST_CARDS else ASYNC_CARDS[name][0]
        saved = request.payment_method_id
        if not saved.startswith(SAVED_PREFIX):  # a token becomes a saved method
            saved = f"{SAVED_PREFIX}{name.removeprefix('pm_card_')}_{secrets.token_hex(8)}"
        return pb.PaymentMethod(
            payment_method_id=saved,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )

    async def CreatePaymentIntent(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._gate(context)
        known = self.by_key.get(request.idempotency_key)
        if known is not None:
            return self.intents[known]
        name = _card_name(request.payment_method_id)
        if name is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown payment method")
        assert name is not None
        intent_id = f"pi_engine_{uuid.uuid4().hex[:20]}"
        fields: dict[str, Any] = {
            "intent_id": intent_id,
            "amount_minor": request.amount_minor,
            "currency": request.currency,
        }
        if name in ASYNC_CARDS:
            fields["status"] = pb.PROCESSING
            self._settle_later(intent_id, dict(request.metadata), ASYNC_CARDS[name][1])
        else:
            outcome = TEST_CARDS[name][1]
            if outcome is ChargeOutcome.REQUIRES_ACTION and request.off_session:
                outcome = ChargeOutcome.DECLINED  # nobody is there to authenticate
            fields["status"] = STATUS_OF[outcome]
            if outcome is ChargeOutcome.REQUIRES_ACTION:
                fields["client_secret"] = f"{intent_id}_secret"
            if outcome is ChargeOutcome.DECLINED:
                fields |= {"decline_code": "card_declined", "failure_message": "card declined"}
        intent = pb.PaymentIntent(**fields)
        self.intents[intent_id] = intent
        self.by_key[request.idempotency_key] = intent_id
        self.created += 1
        return intent

    async def _known(self, intent_id: str, context: grpc.aio.ServicerContext) -> Any:
        await self._gate(context)
        intent = self.intents.get(intent_id)
        if intent is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown intent")
        return intent

    async def GetPaymentIntent(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._known(request.intent_id, context)

    async def CancelPaymentIntent(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        intent = await self._known(request.intent_id, context)
        if intent.status in (pb.PROCESSING, pb.REQUIRES_ACTION):
            intent = pb.PaymentIntent(
                intent_id=intent.intent_id,
                status=pb.CANCELED,
                amount_minor=intent.amount_minor,
                currency=intent.currency,
            )
            self.intents[intent.intent_id] = intent
        return intent

    async def RefundPayment(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        intent = await self._known(request.intent_id, context)
        if intent.status != pb.SUCCEEDED:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "nothing to refund")
        amount = request.amount_minor or intent.amount_minor
        if amount > intent.amount_minor:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "more than was paid")
        return pb.Refund(
            refund_id=f"re_engine_{uuid.uuid4().hex[:20]}",
            status=pb.REFUND_SUCCEEDED,
            amount_minor=amount,
        )

    def _settle_later(self, intent_id: str, metadata: dict[str, str], result: str) -> None:
        task = asyncio.get_running_loop().create_task(self._settle(intent_id, metadata, result))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, intent_id: str, metadata: dict[str, str], result: str) -> None:
        """The processor answered: update the intent and report it as payment.processed."""
        await asyncio.sleep(self.settle_after_seconds)
        old = self.intents[intent_id]
        status = pb.SUCCEEDED if result == "succeeded" else pb.FAILED
        self.intents[intent_id] = pb.PaymentIntent(
            intent_id=intent_id,
            status=status,
            amount_minor=old.amount_minor,
            currency=old.currency,
            failure_message="" if status == pb.SUCCEEDED else "card declined",
        )
        if self.publisher is None:
            return
        data = {"status": result, "processorPaymentId": intent_id}
        if metadata.get("payment_id"):
            data["paymentId"] = metadata["payment_id"]
        if result == "failed":
            data["failureMessage"] = "card declined"
        event = {
            "id": f"evt_engine_{uuid.uuid4().hex}",
            "source": "urn:billing-engine:stand-in",
            "type": "payment.processed",
            "specversion": "1.0",
            "time": datetime.now(UTC).isoformat(),
            "data": data,
        }
        key = metadata.get("user_id", intent_id)
        await self.publisher.publish([OutboundMessage.of(self.topic, key, event)])


async def serve(
    engine: StandInEngine, port: int, host: str = "127.0.0.1"
) -> tuple[grpc.aio.Server, int]:
    """A started gRPC server for `engine` on `host:port` (0: any free port), and its port."""
    server = grpc.aio.server()
    rpc.add_BillingEngineServicer_to_server(engine, server)  # type: ignore[no-untyped-call]
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    return server, bound


async def run_forever(port: int, kafka: str | None, topic: str) -> None:
    publisher: Publisher | None = None
    if kafka:
        from services.messaging.kafka import KafkaPublisher

        publisher = KafkaPublisher(kafka, "billing-engine-standin")
    server, _ = await serve(StandInEngine(publisher=publisher, topic=topic), port, "0.0.0.0")
    print(f"stand-in billing engine on :{port} (set BILLING_ENGINE_URL=127.0.0.1:{port})")
    try:
        await server.wait_for_termination()
    finally:
        with contextlib.suppress(Exception):
            await server.stop(1)
