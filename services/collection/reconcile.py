"""Charges a processor accepted but has not settled (PROCESSING) are settled by the
`payment.processed` event the engine sends. If that event never comes, the worker asks
the gateway where the intent stands, on a schedule, and applies the answer through the
same idempotent handler as the events (so a late event after it is a no-op)."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from services.billing.payments import status_of_outcome
from services.billing.rules import PaymentStatus
from services.collection.payment_results import PaymentResultMessage, apply_payment_results
from services.gateway.base import ChargeResult, GatewayUnavailable
from services.platform.deps import Deps

SOURCE = "gateway-poll"
WAIT_FOR_EVENT = timedelta(minutes=5)  # how long an event may take before we ask
BATCH = 100


class IntentLookup(Protocol):
    platform: str

    async def intent_status(self, intent_id: str) -> ChargeResult: ...


async def reconcile_unsettled(deps: Deps) -> int:
    """Settle what the gateway says has settled; returns how many were applied."""
    gateway = deps.gateway
    if not hasattr(gateway, "intent_status"):
        return 0  # Stripe and the local gateway report through webhooks or at once
    lookup: IntentLookup = gateway  # type: ignore[assignment]
    now = deps.clock.now()
    async with deps.uow() as uow:
        unsettled = await uow.billing.unsettled_payments(
            lookup.platform, now - WAIT_FOR_EVENT, BATCH
        )
    messages = []
    for payment_id, intent_id in unsettled:
        try:
            answer = await lookup.intent_status(intent_id)
        except GatewayUnavailable:
            return 0  # asked again next round
        status = status_of_outcome(answer.outcome)
        if status is PaymentStatus.STARTED:
            continue
        messages.append(
            PaymentResultMessage(
                source=SOURCE,
                message_id=f"{intent_id}:{status.value}",
                message_type="payment_intent.polled",
                occurred_at=now,
                status=status,
                processor_payment_id=intent_id,
                payment_id=payment_id,
                failure_message=answer.failure_message,
            )
        )
    if messages:
        await apply_payment_results(deps, messages)
    return len(messages)
