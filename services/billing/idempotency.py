"""Idempotency keys for charging mutations: a repeated key returns the first result and
charges nothing more. Keys are per user; reusing one for a different request is an
error, as at Stripe."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from services.common.errors import DomainError, ErrorCode
from services.platform.uow import UnitOfWork

MAX_KEY_LENGTH = 255


def request_hash(operation: str, payload: dict[str, Any]) -> str:
    body = orjson.dumps({"op": operation, **payload}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"idempotency key must be 1-{MAX_KEY_LENGTH} chars",
            "idempotencyKey",
        )
    return key


async def previous_response(
    uow: UnitOfWork, user_id: str, key: str | None, fingerprint: str
) -> dict[str, Any] | None:
    """The stored response for this key, if any. Call with the user lock held."""
    if key is None:
        return None
    stored = await uow.messaging.idempotency_key(user_id, key)
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was used for a different request",
            "idempotencyKey",
        )
    return stored.response
