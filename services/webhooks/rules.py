"""The webhooks' vocabulary and pure rules: endpoint and delivery states, the retry
schedule, when an endpoint that keeps failing is disabled, which URLs are accepted."""

from __future__ import annotations

import base64
import ipaddress
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from services.common.errors import DomainError, ErrorCode

SECRET_PREFIX = "whsec_"
ROTATION_OVERLAP = timedelta(hours=24)  # the old secret keeps signing alongside the new
MAX_URL = 2000
MAX_EVENT_TYPES = 50


class EndpointStatus(StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"  # waiting for its next attempt
    SUCCEEDED = "SUCCEEDED"  # a 2xx answered
    FAILED = "FAILED"  # the schedule ran out, or the endpoint was disabled or deleted


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 24 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def parse_schedule(text: str) -> tuple[float, ...]:
    """WEBHOOK_RETRY_SECONDS: the waits before each attempt, the first usually 0."""
    waits = tuple(float(part) for part in text.split(",") if part.strip())
    if not waits or any(wait < 0 for wait in waits):
        raise ValueError("WEBHOOK_RETRY_SECONDS needs one or more waits of 0 seconds or more")
    return waits


def next_attempt(schedule: tuple[float, ...], attempts_made: int, now: datetime) -> datetime | None:
    """When the attempt after `attempts_made` failed ones is due; None when none is left."""
    if attempts_made >= len(schedule):
        return None
    return now + timedelta(seconds=schedule[attempts_made])


def should_disable(failing_since: datetime | None, now: datetime, after_days: int) -> bool:
    """Every delivery to it failed for `after_days`: the endpoint is disabled."""
    return failing_since is not None and now - failing_since >= timedelta(days=after_days)


def check_url(url: str, *, https_only: bool = False) -> str:
    """A URL a delivery may go to; production wants https (`https_only`)."""
    url = url.strip()
    parts = urlsplit(url)
    if https_only and parts.scheme == "http":
        raise DomainError(ErrorCode.INVALID_INPUT, "url must be https in production", "url")
    if (
        len(url) > MAX_URL
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username
        or parts.password
    ):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "url must be an http or https URL without credentials, at most 2000 characters",
            "url",
        )
    return url


def blocked_address(address: str) -> bool:
    """Loopback, private, link-local, shared, reserved or multicast: not a public
    receiver (an endpoint must not reach into the service's own network)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_event_types(types: list[str], known: frozenset[str]) -> list[str]:
    """Known event types, each once; [] means all."""
    unknown = sorted(set(types) - known)
    if unknown or len(types) > MAX_EVENT_TYPES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"unknown event types: {unknown}", "eventTypes")
    return sorted(set(types))
