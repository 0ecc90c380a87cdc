"""Messages this service consumes: CloudEvents envelopes validated with pydantic, then
applied through the same use cases as the API, once each.

A message that cannot be parsed or fails validation is poison: it goes to the
dead-letter topic with the reason and the consumer moves on. A command the rules
refuse (unknown plan, already subscribed, ...) is not poison: it is answered with a
`subscription.command_rejected` event, once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import StringConstraints

from services.app.envelopes import (
    Envelope,
    PoisonMessage,
    Short,
    Strict,
    UserId,
    data_of,
    parse,
)
from services.app.usage_messages import usage_command_of
from services.billing.rules import PaymentStatus
from services.collection.payment_results import PaymentResultMessage, apply_payment_results
from services.common.errors import DomainError, ErrorCode
from services.common.tasks import take_turn
from services.messaging import events
from services.messaging.events import DomainEvent
from services.messaging.kafka import Handler, Records, Write
from services.platform.deps import Deps
from services.platform.uow import DuplicateMessage, InboxEntry
from services.subscriptions import checkout, interruptions
from services.subscriptions.fulfillment import Address, Channel, Fulfillment
from services.usage import batches

log = logging.getLogger(__name__)
SOURCE = "kafka"


class PaymentProcessed(Strict):
    """FlowMart's PaymentProcessed, reporting on a payment we asked for."""

    status: Literal["succeeded", "failed", "canceled", "processing"]
    paymentId: Short | None = None
    processorPaymentId: Short | None = None
    failureMessage: Annotated[str, StringConstraints(max_length=1000)] | None = None


class AddressData(Strict):
    line1: Short
    city: Short
    postalCode: Short
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    line2: Short | None = None
    region: Short | None = None


class FulfillmentData(Strict):
    channel: Channel
    address: AddressData | None = None
    storeId: Short | None = None


class SubscribeUser(Strict):
    userId: UserId
    planCode: Short
    paymentMethodId: Short | None = None
    fulfillment: FulfillmentData | None = None


class CancelSubscriptionCommand(Strict):
    userId: UserId
    atPeriodEnd: bool = True
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


_RESULT = {
    "succeeded": PaymentStatus.SUCCESS,
    "failed": PaymentStatus.FAILED,
    "canceled": PaymentStatus.CANCELED,
    "processing": PaymentStatus.STARTED,
}


def payment_message(envelope: Envelope, received_at: datetime) -> PaymentResultMessage:
    data: PaymentProcessed = data_of(PaymentProcessed, envelope)
    if data.paymentId is None and data.processorPaymentId is None:
        raise PoisonMessage("payment.processed names no payment")
    try:
        payment_id = uuid.UUID(data.paymentId) if data.paymentId else None
    except ValueError as error:
        raise PoisonMessage("paymentId is not a UUID") from error
    return PaymentResultMessage(
        source=SOURCE,
        message_id=envelope.id,
        message_type=envelope.type,
        occurred_at=envelope.time or received_at,
        status=_RESULT[data.status],
        processor_payment_id=data.processorPaymentId,
        payment_id=payment_id,
        failure_message=data.failureMessage,
        payload=envelope.model_dump(mode="json"),
    )


def _fulfillment(data: FulfillmentData | None) -> Fulfillment | None:
    if data is None:
        return None
    address = data.address
    return Fulfillment(
        channel=data.channel,
        address=Address(
            address.line1,
            address.city,
            address.postalCode,
            address.country,
            address.line2,
            address.region,
        )
        if address
        else None,
        store_id=data.storeId,
    )


async def on_subscribe(deps: Deps, envelope: Envelope) -> None:
    data: SubscribeUser = data_of(SubscribeUser, envelope)
    command = checkout.Subscribe(
        user_id=data.userId,
        plan_code=data.planCode,
        payment_method_id=data.paymentMethodId,
        fulfillment=_fulfillment(data.fulfillment),
        idempotency_key=f"kafka:{envelope.id}",
    )
    await _apply_command(deps, envelope, data.userId, lambda d: checkout.subscribe(d, command))


async def on_cancel(deps: Deps, envelope: Envelope) -> None:
    data: CancelSubscriptionCommand = data_of(CancelSubscriptionCommand, envelope)
    command = interruptions.CancelSubscription(data.userId, data.atPeriodEnd, data.reason)
    await _apply_command(
        deps, envelope, data.userId, lambda d: interruptions.cancel(d, command, actor="kafka")
    )


async def _apply_command(
    deps: Deps, envelope: Envelope, user_id: str, run: Callable[[Deps], Awaitable[object]]
) -> None:
    inbox = InboxEntry(SOURCE, envelope.id, envelope.type, deps.clock.now())
    try:
        await run(deps.applying(inbox))
    except DuplicateMessage:
        log.info("command %s was applied before", envelope.id)
    except DomainError as error:
        if error.code is ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE:
            raise  # transient: the consumer retries it
        await _reject(deps.applying(inbox), envelope, user_id, error)


async def _reject(deps: Deps, envelope: Envelope, user_id: str, error: DomainError) -> None:
    try:
        async with deps.uow() as uow:
            uow.record(
                DomainEvent(
                    events.COMMAND_REJECTED,
                    user_id,
                    {
                        "commandId": envelope.id,
                        "commandType": envelope.type,
                        "userId": user_id,
                        "code": error.code.value,
                        "field": error.field,
                        "message": error.message,
                    },
                    deps.clock.now(),
                )
            )
            await uow.commit()
    except DuplicateMessage:
        pass


def command_handlers(deps: Deps) -> dict[str, Callable[[Deps, Envelope], Awaitable[None]]]:
    settings = deps.settings
    return {
        settings.topic_subscribe_command: on_subscribe,
        settings.topic_cancel_command: on_cancel,
    }


def consumed_topics(deps: Deps) -> list[str]:
    return [deps.settings.topic_payment_processed, *command_handlers(deps)]


def dead_letter_record(
    topic: str, key: bytes | None, value: bytes | None, reason: str
) -> dict[str, Any]:
    return {
        "reason": reason,
        "topic": topic,
        "key": key.decode(errors="replace") if key else None,
        "value": value.decode(errors="replace") if value else None,
        "failedAt": datetime.now(UTC).isoformat(),
    }


DeadLetter = Callable[[str | None, dict[str, Any]], Awaitable[None]]


def make_handler(deps: Deps, dead_letter: DeadLetter) -> Handler:
    """The consumer's handler for one poll's records of one topic, in two steps. Reading
    parses and validates every message (poison goes to the dead-letter topic) and, for
    usage, checks each event against its user's access snapshot; it writes nothing and
    returns the writing step, which applies the rest once and raises only for transient
    failures (it is then run again). The consumer reads its next poll while the last
    one is written (services/messaging/kafka.py). Payment results of a poll share one
    transaction, usage events are counted as a batch (services/usage/batches.py),
    commands run one by one."""
    commands = command_handlers(deps)
    payments_topic = deps.settings.topic_payment_processed
    usage_topic = deps.settings.topic_usage_recorded

    async def poisoned(topic: str, key: bytes | None, value: bytes | None, reason: str) -> None:
        log.warning("dead-lettering a message from %s: %s", topic, reason)
        record = dead_letter_record(topic, key, value, reason)
        await dead_letter(key.decode(errors="replace") if key else None, record)

    async def valid(
        topic: str, records: Records, check: Callable[[bytes | None], Any]
    ) -> list[Any]:
        """Each message `check`ed; those found poison are dead-lettered."""
        kept = []
        for index, (key, value) in enumerate(records):
            await take_turn(index)  # the last poll's write moves on (kafka.py)
            try:
                kept.append((key, value, check(value)))
            except PoisonMessage as poison:
                await poisoned(topic, key, value, str(poison))
        return kept

    async def read_usage(records: Records) -> Write:
        usage = await valid(usage_topic, records, usage_command_of)
        planned = await batches.plan_usage_batch(deps, [c for _, _, c in usage])

        async def write() -> None:
            outcomes = await batches.count_usage_batch(deps, planned)
            for (key, value, _), outcome in zip(usage, outcomes, strict=True):
                reason = batches.refusal_reason(outcome)
                if reason is not None:
                    await poisoned(usage_topic, key, value, reason)

        return write

    async def read(topic: str, records: Records) -> Write:
        if topic == usage_topic:
            return await read_usage(records)
        if topic == payments_topic:
            now = deps.clock.now()
            payments = await valid(topic, records, lambda v: payment_message(parse(v), now))

            async def apply_payments() -> None:
                if payments:
                    await apply_payment_results(deps, [m for _, _, m in payments])

            return apply_payments

        async def apply_commands() -> None:
            # Parsed as they run, so their dead letters keep the order of the messages.
            for key, value in records:
                try:
                    await commands[topic](deps, parse(value))
                except PoisonMessage as poison:
                    await poisoned(topic, key, value, str(poison))

        return apply_commands

    return read
