"""GraphQL subscriptions: committed status changes, pushed as they happen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from datetime import datetime

import strawberry

from schema import types
from schema.inputs import AdminEventFilter
from schema.permissions import Info
from services.messaging.events import SUBSCRIPTION_STATUS_CHANGED
from services.messaging.live import LiveHub, QuotaChange, StatusChange
from services.reads import events as event_reads
from services.subscriptions.lifecycle import Status
from services.usage import metering


def _event(change: StatusChange, cursor: str | None = None) -> types.SubscriptionStatusEvent:
    return types.SubscriptionStatusEvent(
        user_id=change.user_id,
        subscription_id=strawberry.ID(change.subscription_id),
        status=Status(change.status),
        previous_status=Status(change.previous_status) if change.previous_status else None,
        plan_code=change.plan_code,
        tier=change.tier,
        entitlements=list(change.entitlements),
        reason=change.reason,
        actor=change.actor,
        occurred_at=change.occurred_at,
        cursor=cursor or event_reads.event_cursor(change.event_id),
    )


def _hub(info: Info) -> LiveHub:
    hub = info.context.live
    assert hub is not None, "live updates need the hub (set by the app)"
    return hub


async def _resumed(
    info: Info,
    after: str | None,
    user_id: str | None,
    seen: set[str],
    matches: Callable[[StatusChange], bool] = lambda _: True,
) -> AsyncGenerator[types.SubscriptionStatusEvent, None]:
    """The status changes logged after `after` (none without it), oldest first; their
    ids go into `seen`, so the live ones already sent are skipped."""
    if after is None:
        return
    kinds = [SUBSCRIPTION_STATUS_CHANGED]
    async for cursor, logged in event_reads.replay(info.context.deps, after, kinds, user_id):
        change = StatusChange.from_envelope(logged.envelope)
        if change is not None and change.event_id not in seen and matches(change):
            seen.add(change.event_id)
            yield _event(change, cursor)


async def subscription_status_changed(
    info: Info, after: str | None = None
) -> AsyncGenerator[types.SubscriptionStatusEvent, None]:
    """Live changes; with `after` (a cursor from an earlier message), first the ones
    missed since, in order, then live ones, none twice (the listener is open first)."""
    user_id = info.context.user().user_id
    async with _hub(info).listen_user(user_id) as queue:
        seen: set[str] = set()
        async for missed in _resumed(info, after, user_id, seen):
            yield missed
        while True:
            change = await queue.get()
            if change.event_id not in seen:
                yield _event(change)


async def admin_subscription_events(
    info: Info, filter: AdminEventFilter | None = None, after: str | None = None
) -> AsyncGenerator[types.SubscriptionStatusEvent, None]:
    wanted = filter or AdminEventFilter()

    def matches(change: StatusChange) -> bool:
        return (
            (wanted.status is None or change.status == Status(wanted.status).value)
            and (wanted.plan_code is None or change.plan_code == wanted.plan_code)
            and (wanted.user_id is None or change.user_id == wanted.user_id)
        )

    async with _hub(info).listen(matches) as queue:
        seen: set[str] = set()
        async for missed in _resumed(info, after, wanted.user_id, seen, matches):
            yield missed
        while True:
            change = await queue.get()
            if change.event_id not in seen:
                yield _event(change)


COALESCE_SECONDS = 0.25  # at most four pushes a second per subscription


async def quota_changed(
    info: Info, meter_key: str | None = None, after: str | None = None
) -> AsyncGenerator[types.QuotaUpdate, None]:
    """Your remaining units after usage is counted; a burst is coalesced into its latest
    state per push. Quota updates are states, not logged events: resuming (`after`, any
    earlier cursor) first sends each meter's current state, which covers what was
    missed."""

    def wanted(change: QuotaChange) -> bool:
        return meter_key is None or change.meter_key == meter_key

    user_id = info.context.user().user_id
    async with _hub(info).listen_quota(user_id) as box:
        if after is not None:
            for now in await metering.usage_of(info.context.deps, user_id):
                if meter_key is None or now.meter_key == meter_key:
                    yield _quota(now.meter_key, now.used, now.remaining, now.period_end)
        while True:
            change: QuotaChange = await box.get()
            if not wanted(change):
                continue
            await asyncio.sleep(COALESCE_SECONDS)
            while (newer := box.poll()) is not None:
                if wanted(newer):
                    change = newer
            yield _quota(change.meter_key, change.used, change.remaining, change.resets_at)


def _quota(
    meter_key: str, used: int, remaining: int | None, resets_at: datetime
) -> types.QuotaUpdate:
    cursor = event_reads.event_cursor(f"quota:{meter_key}:{resets_at.isoformat()}:{used}")
    return types.QuotaUpdate(
        meter_key=meter_key, used=used, remaining=remaining, resets_at=resets_at, cursor=cursor
    )
