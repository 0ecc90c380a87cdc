"""Domain events (past tense) and their CloudEvents 1.0 JSON envelope.

The Kafka message key is the user id, so one user's events stay in order. The
`dataversion` extension attribute versions the shape of `data`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

DATA_VERSION = "1"

SUBSCRIPTION_STARTED = "subscription.started"
SUBSCRIPTION_CANCELLED = "subscription.cancelled"
SUBSCRIPTION_UPGRADED = "subscription.upgraded"
SUBSCRIPTION_DOWNGRADED = "subscription.downgraded"  # at once, by a plan's policy
SUBSCRIPTION_STATUS_CHANGED = "subscription.status_changed"
PRICING_CHANGED = "pricing.changed"
NOTIFICATION_REQUESTED = "notification.requested"
FULFILLMENT_REQUESTED = "fulfillment.requested"
COMMAND_REJECTED = "subscription.command_rejected"
PLAN_UPDATED = "plan.updated"
USAGE_THRESHOLD_REACHED = "usage.threshold_reached"
QUOTA_PACK_PURCHASED = "quota_pack.purchased"
SUBSCRIPTION_PAUSED = "subscription.paused"
SUBSCRIPTION_RESUMED = "subscription.resumed"
COUPON_REDEEMED = "coupon.redeemed"
CREDIT_ADJUSTED = "credit.adjusted"
REFUND_CREATED = "refund.created"
CREDIT_NOTE_ISSUED = "credit_note.issued"
PRICE_CHANGE_SCHEDULED = "subscription.price_change_scheduled"
WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"
# Every type the service publishes (each has a JSON Schema in docs/events/).
PUBLISHED_TYPES = frozenset(
    {
        SUBSCRIPTION_STARTED,
        SUBSCRIPTION_CANCELLED,
        SUBSCRIPTION_UPGRADED,
        SUBSCRIPTION_DOWNGRADED,
        SUBSCRIPTION_STATUS_CHANGED,
        PRICING_CHANGED,
        NOTIFICATION_REQUESTED,
        FULFILLMENT_REQUESTED,
        COMMAND_REJECTED,
        PLAN_UPDATED,
        USAGE_THRESHOLD_REACHED,
        QUOTA_PACK_PURCHASED,
        SUBSCRIPTION_PAUSED,
        SUBSCRIPTION_RESUMED,
        COUPON_REDEEMED,
        CREDIT_ADJUSTED,
        REFUND_CREATED,
        CREDIT_NOTE_ISSUED,
        PRICE_CHANGE_SCHEDULED,
        WEBHOOK_ENDPOINT_DISABLED,
    }
)
# Changes to the catalog change what every subscriber of a plan may use.
CATALOG_EVENTS = frozenset({PRICING_CHANGED, PLAN_UPDATED})


@dataclass(frozen=True)
class DomainEvent:
    type: str
    subject: str  # the user id; also the message key
    data: dict[str, Any]
    occurred_at: datetime
    id: str = ""

    def envelope(self, source: str) -> dict[str, Any]:
        """The CloudEvents 1.0 JSON envelope, as the `cloudevents` library writes it
        (tests/unit/messaging compares the two for every event type); built directly,
        it costs a dict instead of an event object and a JSON round trip."""
        data = orjson.loads(orjson.dumps(self.data))  # plain JSON values, a copy
        return self._envelope(source, self.id or str(uuid.uuid4()), data)

    def serialized(self, source: str) -> tuple[str, bytes]:
        """(its id, the envelope as JSON), serialized once: what the outbox stores and
        the relay sends (the same bytes as `orjson.dumps(self.envelope(source))`)."""
        event_id = self.id or str(uuid.uuid4())
        return event_id, orjson.dumps(self._envelope(source, event_id, self.data))

    def _envelope(self, source: str, event_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": event_id,
            "source": source,
            "type": self.type,
            "specversion": "1.0",
            "time": _rfc3339(self.occurred_at),
            "subject": self.subject,
            "datacontenttype": "application/json",
            "dataversion": DATA_VERSION,
            "data": data,
        }


def _rfc3339(moment: datetime) -> str:
    text = moment.isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def notification(user_id: str, template: str, now: datetime, **params: Any) -> DomainEvent:
    """Ask the notification service to tell a user something (it owns channels/templates)."""
    return DomainEvent(
        NOTIFICATION_REQUESTED,
        user_id,
        {"userId": user_id, "template": template, "params": params},
        now,
    )
