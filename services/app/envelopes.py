"""The CloudEvents envelope of every message this service consumes, and the field types
their data share: parsing and validation, with the reason a message is poison."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from services.common.text import unstorable_message, unstorable_path
from services.platform.auth import USER_ID_PATTERN

UserId = Annotated[str, StringConstraints(pattern=USER_ID_PATTERN.pattern)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Quantity = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]  # what orjson reads as one


class PoisonMessage(Exception):
    """Unreadable or invalid: dead-letter it with this reason."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Envelope(Strict):
    id: Short
    type: Short
    source: Short
    specversion: Literal["1.0"]
    time: datetime | None = None
    data: dict[str, Any]


def parse(value: bytes | None) -> Envelope:
    if not value:
        raise PoisonMessage("empty message")
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise PoisonMessage(f"not JSON: {error}") from error
    # JSON can only carry a NUL as the escape \u0000: without one, nothing to look for.
    unstorable = unstorable_path(decoded) if b"\\u0000" in value else None
    if unstorable is not None:
        raise PoisonMessage(unstorable_message(unstorable))
    try:
        return Envelope.model_validate(decoded)
    except ValidationError as error:
        raise PoisonMessage(f"not a CloudEvent: {first_error(error)}") from error


def first_error(error: ValidationError) -> str:
    problem = error.errors()[0]
    return f"{'.'.join(str(p) for p in problem['loc'])}: {problem['msg']}"


def data_of(model: type[Strict], envelope: Envelope) -> Any:
    try:
        return model.model_validate(envelope.data)
    except ValidationError as error:
        raise PoisonMessage(f"invalid {envelope.type}: {first_error(error)}") from error
