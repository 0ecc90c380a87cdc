"""quotaChanged coalesces a burst into its latest state, and filters by meter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

from resolvers.graphql.live import quota_changed
from services.messaging.live import LiveHub, QuotaChange, parse_change
from services.platform.auth import Principal

RESETS = datetime(2027, 1, 1, tzinfo=UTC)


def info_for(hub: LiveHub, user: str):  # type: ignore[no-untyped-def]
    principal = Principal(user, frozenset())
    return SimpleNamespace(context=SimpleNamespace(live=hub, user=lambda: principal))


async def test_a_burst_is_pushed_once_with_its_latest_state():
    hub = LiveHub()
    updates = quota_changed(info_for(hub, "una"), meter_key="ai.calls")
    first = asyncio.ensure_future(updates.__anext__())
    for _ in range(100):  # the generator registers its listener on its first step
        if hub.listener_count:
            break
        await asyncio.sleep(0.01)
    hub.dispatch(QuotaChange("una", "tokens", 5, 95, RESETS))  # another meter: filtered out
    for used in range(1, 6):
        hub.dispatch(QuotaChange("una", "ai.calls", used, 10 - used, RESETS))
    hub.dispatch(QuotaChange("bob", "ai.calls", 9, 1, RESETS))  # another user: never seen
    update = await asyncio.wait_for(first, 5)
    assert (update.meter_key, update.used, update.remaining) == ("ai.calls", 5, 5)
    await updates.aclose()
    assert hub.listener_count == 0


def test_a_quota_change_travels_as_an_envelope_and_back():
    change = QuotaChange("una", "ai.calls", 3, None, RESETS)
    assert parse_change(change.message().envelope) == change
