"""Text PostgreSQL cannot store. A `text` value cannot hold a NUL character, and a
string holding one fails deep in the driver as an unexpected error. Every edge (GraphQL
arguments and variables, REST bodies and paths, webhooks, Kafka messages) asks this one
question before anything is written. (Lone surrogates, the other unencodable case, are
already refused by the JSON and GraphQL parsers.)"""

from __future__ import annotations

from collections.abc import Mapping

from services.common.errors import DomainError, ErrorCode


def unstorable_path(value: object, path: str = "") -> str | None:
    """The path (`input.code`, `items.3`) of the first string in `value`, a decoded JSON
    document, that PostgreSQL text cannot hold; None when every string is storable."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            key_text = str(key)
            here = f"{path}.{key_text}" if path else key_text
            if "\x00" in key_text:
                return here
            found = unstorable_path(item, here)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unstorable_path(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def unstorable_message(path: str) -> str:
    return f"{path or 'the input'} contains a NUL character, which cannot be stored"


MAX_REASON = 500  # a reason or note a person types


def check_text(value: str, field: str, limit: int, *, required: bool) -> str:
    """A name or description: trimmed, present when required, at most `limit` long."""
    value = value.strip()
    if required and not value:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{field} is required", field)
    if len(value) > limit:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{field} is longer than {limit}", field)
    return value
