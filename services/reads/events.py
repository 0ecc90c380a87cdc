"""Reading the event log: every event the service published, kept EVENT_RETENTION_DAYS,
paged by opaque cursors (docs/events.md). Admins and services read all of it; a
customer reads the events about them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.common.errors import DomainError, ErrorCode
from services.common.pagination import (
    Page,
    check_first,
    decode_log_cursor,
    encode_event_id,
    encode_position,
)
from services.messaging import events
from services.platform.deps import Deps
from services.store.messaging import LoggedEvent as LoggedEvent  # the views
from services.store.messaging import log_page, position_of, sequence_log

MAX_TYPES = 50
# What a customer may read of their own: events about them. (Catalog events are keyed
# by plan code, which a user id could equal; they are not a customer's.)
CUSTOMER_TYPES = frozenset(
    {
        events.SUBSCRIPTION_STARTED,
        events.SUBSCRIPTION_CANCELLED,
        events.SUBSCRIPTION_UPGRADED,
        events.SUBSCRIPTION_DOWNGRADED,
        events.SUBSCRIPTION_STATUS_CHANGED,
        events.SUBSCRIPTION_PAUSED,
        events.SUBSCRIPTION_RESUMED,
        events.PRICE_CHANGE_SCHEDULED,
        events.FULFILLMENT_REQUESTED,
        events.USAGE_THRESHOLD_REACHED,
        events.QUOTA_PACK_PURCHASED,
        events.COUPON_REDEEMED,
        events.CREDIT_ADJUSTED,
        events.REFUND_CREATED,
        events.CREDIT_NOTE_ISSUED,
    }
)


@dataclass(frozen=True)
class EventQuery:
    first: int = 50
    after: str | None = None
    types: Sequence[str] = ()
    user_id: str | None = None
    since: datetime | None = None


def cursor_of(event: LoggedEvent) -> str:
    return encode_position(event.position)


def event_cursor(event_id: str) -> str:
    """The cursor of an event known by its id only (a live push: its position may not
    be given yet); it resolves to the position once read."""
    return encode_event_id(event_id)


async def _position(deps: Deps, cursor: str | None) -> int:
    found = decode_log_cursor(cursor)
    if isinstance(found, int):
        return found
    async with deps.session_factory() as session:
        position = await position_of(session, found)
    if position is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "the cursor's event is not in the log", "after")
    return position


async def catch_up(deps: Deps) -> None:
    """Position what committed so far, unless a sequencer is at it already."""
    async with deps.session_factory() as session, session.begin():
        await sequence_log(session, wait=False)


async def read(deps: Deps, query: EventQuery, *, customer: bool = False) -> Page[LoggedEvent]:
    first = check_first(query.first)
    types = list(dict.fromkeys(query.types))
    if len(types) > MAX_TYPES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"at most {MAX_TYPES} types", "types")
    if customer:
        types = [t for t in types if t in CUSTOMER_TYPES] if types else sorted(CUSTOMER_TYPES)
        if not types:
            return Page((), False, query.after)
    await catch_up(deps)
    after = await _position(deps, query.after)
    async with deps.session_factory() as session:
        found = await log_page(
            session, after, first + 1, types=types, key=query.user_id, since=query.since
        )
    shown = found[:first]
    end = cursor_of(shown[-1]) if shown else query.after
    return Page(tuple(shown), len(found) > first, end)


async def replay(
    deps: Deps, after: str, types: Sequence[str], user_id: str | None = None
) -> AsyncIterator[tuple[str, LoggedEvent]]:
    """What the log holds after `after`, with each entry's cursor: a resuming
    websocket's missed events."""
    cursor: str | None = after
    while True:
        page = await read(deps, EventQuery(100, cursor, types, user_id))
        for event in page.items:
            yield cursor_of(event), event
        if not page.has_next_page:
            return
        cursor = page.end_cursor
