"""usage.recorded messages: validated straight from their bytes on the hot path (the
consumer reads thousands a poll), the general way for anything that path refuses."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NotRequired

from pydantic import TypeAdapter
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from services.app.envelopes import Envelope, Quantity, Short, Strict, UserId, data_of, parse
from services.usage import metering


class UsageRecorded(Strict):
    """Usage another service reports; `eventId` defaults to the message id."""

    userId: UserId
    meterKey: Short
    quantity: Quantity
    eventId: Short | None = None
    occurredAt: datetime | None = None
    value: Short | None = None


class _UsageData(TypedDict):
    userId: UserId
    meterKey: Short
    quantity: Quantity
    eventId: NotRequired[Short | None]
    occurredAt: NotRequired[datetime | None]
    value: NotRequired[Short | None]


class _UsageMessage(TypedDict):
    id: Short
    type: Short
    source: Short
    specversion: Literal["1.0"]
    time: NotRequired[datetime | None]
    data: _UsageData


# The hot path: the same rules as Envelope and UsageRecorded, checked in one step
# straight from the bytes, into dicts (half the cost of building the models).
_USAGE_MESSAGE = TypeAdapter(_UsageMessage)


def usage_command_of(value: bytes | None) -> metering.RecordUsage:
    """A usage.recorded message's command. A valid message is validated straight from
    its bytes; anything else goes the general way, which names what is wrong."""
    if value and b"\\u0000" not in value:
        try:
            message = _USAGE_MESSAGE.validate_json(value)
        except ValueError:
            pass
        else:
            data = message["data"]
            return metering.RecordUsage(
                data["userId"],
                data["meterKey"],
                data["quantity"],
                data.get("eventId") or message["id"],
                data.get("occurredAt"),
                data.get("value"),
            )
    return usage_command(parse(value))


def usage_command(envelope: Envelope) -> metering.RecordUsage:
    data: UsageRecorded = data_of(UsageRecorded, envelope)
    return metering.RecordUsage(
        data.userId,
        data.meterKey,
        data.quantity,
        data.eventId or envelope.id,
        data.occurredAt,
        data.value,
    )
