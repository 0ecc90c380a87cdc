"""JSON for the REST routes: the same field names as GraphQL (camelCase)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from enum import Enum
from typing import Any

import orjson
from starlette.responses import Response

from services.common.errors import DomainError, ErrorCode

HTTP_STATUS = {
    ErrorCode.INVALID_INPUT: 400,
    ErrorCode.UNSUPPORTED_CURRENCY: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.PLAN_NOT_FOUND: 404,
    ErrorCode.NO_SUBSCRIPTION: 404,
    ErrorCode.PAYMENT_METHOD_NOT_FOUND: 404,
    ErrorCode.PAYMENT_METHOD_REQUIRED: 400,
    ErrorCode.PAYMENT_DECLINED: 402,
    ErrorCode.PAYMENT_REQUIRES_ACTION: 402,
    ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE: 503,
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def plain(value: Any) -> Any:
    """Dataclass views → JSON-ready values with camelCase keys."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {_camel(f.name): plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(plain(data)), status, media_type="application/json")


def ready_json_response(data: dict[str, Any], status: int = 200) -> Response:
    """`data` built as JSON already (camelCase keys; datetimes, which orjson writes as
    `isoformat()` does): no walk through `plain`, which took 13% of a 1,000-event usage
    batch's CPU."""
    return Response(orjson.dumps(data), status, media_type="application/json")


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"errors": [{"code": code, "field": field, "message": message}]}


def error_response(error: DomainError) -> Response:
    status = HTTP_STATUS.get(error.code, 409)  # the rest are conflicts with current state
    return json_response(error_body(error.code.value, error.message, error.field), status)
