"""Stripe webhooks: signature check (the `stripe` library's scheme: HMAC-SHA256 over
"{t}.{body}" with a timestamp tolerance) and translation into payment results."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import stripe

from services.billing.rules import PaymentStatus
from services.collection.payment_results import PaymentResultMessage
from services.common.text import unstorable_message, unstorable_path

SOURCE = "stripe"
PAYMENT_EVENTS = {
    "payment_intent.succeeded": PaymentStatus.SUCCESS,
    "payment_intent.payment_failed": PaymentStatus.FAILED,
    "payment_intent.canceled": PaymentStatus.CANCELED,
    "payment_intent.processing": PaymentStatus.STARTED,
    "payment_intent.requires_action": PaymentStatus.STARTED,
}


MAX_ID_LENGTH = 255  # the inbox's message id column
MAX_TYPE_LENGTH = 128
EARLIEST_CREATED = 1_262_304_000  # 2010: before Stripe sent any event


class WebhookRejected(Exception):
    """Forged, stale or malformed: answer 400 and change nothing."""


def _our_payment_id(intent: dict[str, Any]) -> uuid.UUID | None:
    metadata = intent.get("metadata")
    raw = metadata.get("payment_id") if isinstance(metadata, dict) else None
    try:
        return uuid.UUID(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _signed_at(signature: str | None) -> int | None:
    """The `t=` timestamp of a Stripe-Signature header."""
    for part in (signature or "").split(","):
        name, _, value = part.partition("=")
        if name.strip() == "t" and value.strip().isascii() and value.strip().isdigit():
            return int(value.strip())
    return None


def parse_webhook(
    payload: bytes, signature: str | None, secret: str, tolerance_seconds: int
) -> PaymentResultMessage:
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance_seconds)
    except stripe.SignatureVerificationError as error:
        raise WebhookRejected(str(error).split(".")[0]) from error
    signed_at = _signed_at(signature)
    # The library refuses old signatures only; one from the future is as suspect.
    if signed_at is None or signed_at > time.time() + tolerance_seconds:
        raise WebhookRejected("Timestamp outside the tolerance zone")
    try:
        event = orjson.loads(payload)
        event_id, event_type, created = event["id"], event["type"], event["created"]
        obj = event["data"]["object"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise WebhookRejected("not a Stripe event") from error
    valid = isinstance(event_id, str) and isinstance(event_type, str) and isinstance(obj, dict)
    if not valid or not isinstance(created, int):
        raise WebhookRejected("not a Stripe event")
    if not 0 < len(event_id) <= MAX_ID_LENGTH or len(event_type) > MAX_TYPE_LENGTH:
        raise WebhookRejected("event id or type too long")
    if not EARLIEST_CREATED <= created <= time.time() + 86_400:
        raise WebhookRejected("event created at an impossible time")
    unstorable = unstorable_path(event)
    if unstorable is not None:
        raise WebhookRejected(unstorable_message(unstorable))
    is_intent = obj.get("object") == "payment_intent"
    last_error = obj.get("last_payment_error")
    return PaymentResultMessage(
        source=SOURCE,
        message_id=event_id,
        message_type=event_type,
        occurred_at=datetime.fromtimestamp(created, UTC),
        status=PAYMENT_EVENTS.get(event_type) if is_intent else None,
        processor_payment_id=str(obj.get("id")) if is_intent else None,
        payment_id=_our_payment_id(obj) if is_intent else None,
        failure_message=last_error.get("message") if isinstance(last_error, dict) else None,
        payload=event,
    )
