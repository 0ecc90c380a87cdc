"""Our envelopes are what the `cloudevents` library writes for the same event: the
library is the reference, our builder the fast path (no event object, no JSON round
trip per event)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from services.messaging import events
from services.messaging.events import DomainEvent

TYPES = sorted(
    value
    for name, value in vars(events).items()
    if name.isupper() and isinstance(value, str) and "." in value
)
MOMENTS = [
    datetime(2027, 3, 1, 12, 0, tzinfo=UTC),
    datetime(2027, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
    datetime(2027, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
]
DATA = {
    "userId": "u-1",
    "amountCents": 999,
    "entitlements": ["basic_content", "ad_free"],
    "fulfillment": {"channel": "MAIL", "address": {"line1": "1 Main St", "line2": None}},
    "cancelAtPeriodEnd": False,
    "note": "ünïcode ✓",
}


def library_envelope(event: DomainEvent, source: str) -> dict[str, object]:
    written = JSONFormat().write(
        CloudEvent(
            attributes={
                "id": event.id,
                "source": source,
                "type": event.type,
                "specversion": "1.0",
                "time": event.occurred_at,
                "subject": event.subject,
                "datacontenttype": "application/json",
                "dataversion": events.DATA_VERSION,
            },
            data=event.data,
        )
    )
    return orjson.loads(written)  # type: ignore[no-any-return]


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("event_type", TYPES)
def test_every_event_type_is_enveloped_as_the_library_writes_it(event_type, moment):
    event = DomainEvent(event_type, "u-1", DATA, moment, id="evt-1")
    ours = event.envelope("urn:subscription-service")
    assert ours == library_envelope(event, "urn:subscription-service")
    assert list(ours) == list(library_envelope(event, "urn:subscription-service"))  # order too
    event_id, stored = event.serialized("urn:subscription-service")
    assert (event_id, stored) == ("evt-1", orjson.dumps(ours))  # what the outbox keeps


def test_data_with_dates_and_ids_serializes_as_its_envelope_does():
    data = {"at": MOMENTS[1], "subscriptionId": uuid.UUID(int=7), "nested": {"when": MOMENTS[2]}}
    event = DomainEvent("plan.updated", "u", data, MOMENTS[0], id="evt-2")
    assert event.serialized("urn:s")[1] == orjson.dumps(event.envelope("urn:s"))


def test_the_envelope_copies_its_data():
    data = {"items": ["a"]}
    envelope = DomainEvent("plan.updated", "u", data, MOMENTS[0]).envelope("urn:s")
    data["items"].append("b")
    assert envelope["data"] == {"items": ["a"]}
    assert envelope["id"]  # a fresh id when the event names none
