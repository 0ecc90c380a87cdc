"""GraphQL subscriptions: committed status changes, pushed as they happen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import strawberry

from schema import types
from schema.inputs import AdminEventFilter
from schema.permissions import Info
from services.messaging.live import LiveHub, QuotaChange, StatusChange
from services.subscriptions.lifecycle import Status


def _event(change: StatusChange) -> types.SubscriptionStatusEvent:
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
    )


def _hub(info: Info) -> LiveHub:
    hub = info.context.live
    assert hub is not None, "live updates need the hub (set by the app)"
    return hub


async def subscription_status_changed(
    info: Info,
) -> AsyncGenerator[types.SubscriptionStatusEvent, None]:
    async with _hub(info).listen_user(info.context.user().user_id) as queue:
        while True:
            yield _event(await queue.get())


async def admin_subscription_events(
    info: Info, filter: AdminEventFilter | None = None
) -> AsyncGenerator[types.SubscriptionStatusEvent, None]:
    wanted = filter or AdminEventFilter()

    def matches(change: StatusChange) -> bool:
        return (
            (wanted.status is None or change.status == Status(wanted.status).value)
            and (wanted.plan_code is None or change.plan_code == wanted.plan_code)
            and (wanted.user_id is None or change.user_id == wanted.user_id)
        )

    async with _hub(info).listen(matches) as queue:
        while True:
            yield _event(await queue.get())


COALESCE_SECONDS = 0.25  # at most four pushes a second per subscription


async def quota_changed(
    info: Info, meter_key: str | None = None
) -> AsyncGenerator[types.QuotaUpdate, None]:
    """Your remaining units after usage is counted; a burst is coalesced into its latest
    state per push."""

    def wanted(change: QuotaChange) -> bool:
        return meter_key is None or change.meter_key == meter_key

    async with _hub(info).listen_quota(info.context.user().user_id) as box:
        while True:
            change: QuotaChange = await box.get()
            if not wanted(change):
                continue
            await asyncio.sleep(COALESCE_SECONDS)
            while (newer := box.poll()) is not None:
                if wanted(newer):
                    change = newer
            yield types.QuotaUpdate(
                meter_key=change.meter_key,
                used=change.used,
                remaining=change.remaining,
                resets_at=change.resets_at,
            )
