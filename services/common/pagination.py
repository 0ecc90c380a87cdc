"""Opaque keyset cursors: (created_at, id) of the last row seen."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from services.common.errors import DomainError, ErrorCode

T = TypeVar("T")
MAX_PAGE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        stamp, _, row_id = raw.partition("|")
        return datetime.fromisoformat(stamp), uuid.UUID(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "malformed cursor", "after") from exc


def check_first(first: int) -> int:
    if first < 1 or first > MAX_PAGE:
        raise DomainError(ErrorCode.INVALID_INPUT, f"first must be 1-{MAX_PAGE}", "first")
    return first


def encode_position(position: int) -> str:
    """An event log cursor: opaque to clients, a position to us."""
    return base64.urlsafe_b64encode(f"log:{position}".encode()).decode()


def encode_event_id(event_id: str) -> str:
    """An event log cursor naming its event by id (its position may not be given yet)."""
    return base64.urlsafe_b64encode(f"id:{event_id}".encode()).decode()


def decode_log_cursor(cursor: str | None, field: str = "after") -> int | str:
    """A position (0: no cursor, the log's start), or the id of the event it names."""
    if cursor is None or cursor == "":
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "id" and value:
            return value
        if kind != "log" or not value.isdigit():
            raise ValueError(cursor)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "malformed cursor", field) from exc
