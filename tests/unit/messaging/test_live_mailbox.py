"""A live listener's mailbox: order kept, oldest dropped at the limit, readers woken."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson

from services.messaging.live import LiveHub, Mailbox, StatusChange, _dispatch_published


def change(n: int, user: str = "user-1") -> StatusChange:
    return StatusChange(
        user_id=user,
        subscription_id=f"sub-{n}",
        status="ACTIVE",
        previous_status="TRIALING",
        plan_code="premium",
        tier="premium",
        entitlements=("hd",),
        reason=f"change-{n}",
        actor="system",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


async def test_changes_come_out_in_order_and_the_oldest_go_first_at_the_limit() -> None:
    box = Mailbox(limit=3)
    for n in range(5):
        box.offer(change(n))
    got = [(await box.get()).reason for _ in range(3)]
    assert got == ["change-2", "change-3", "change-4"]


async def test_a_waiting_reader_is_woken_and_later_changes_queue_behind() -> None:
    box = Mailbox(limit=10)
    reader = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    box.offer(change(1))
    box.offer(change(2))  # arrives before the woken reader has run
    assert (await reader).reason == "change-1"
    assert (await box.get()).reason == "change-2"


async def test_the_hub_delivers_to_the_users_listeners_only_and_forgets_closed_ones() -> None:
    hub = LiveHub(queue_size=5)
    async with (
        hub.listen_user("user-1") as mine,
        hub.listen_user("user-2") as theirs,
        hub.listen(lambda c: c.user_id == "user-2") as firehose,
    ):
        hub.dispatch(change(1, "user-2"))
        assert (await asyncio.wait_for(theirs.get(), 1)).subscription_id == "sub-1"
        assert (await asyncio.wait_for(firehose.get(), 1)).user_id == "user-2"
        reader = asyncio.create_task(mine.get())
        await asyncio.sleep(0.01)
        assert not reader.done()
        reader.cancel()
    assert hub.listener_count == 0


def envelope(user: str, n: int) -> dict[str, object]:
    return {
        "type": "subscription.status_changed",
        "time": "2026-01-01T00:00:00Z",
        "data": {
            "userId": user,
            "subscriptionId": f"sub-{n}",
            "from": "TRIALING",
            "to": "ACTIVE",
            "planCode": "premium",
            "tier": "premium",
            "entitlements": ["hd"],
            "reason": f"change-{n}",
            "actor": "system",
        },
    }


async def test_a_published_batch_reaches_each_listener_and_garbage_is_dropped() -> None:
    hub = LiveHub()
    async with hub.listen_user("user-1") as mine:
        batch = [envelope("user-1", 1), envelope("user-2", 2), envelope("user-1", 3)]
        _dispatch_published(hub, orjson.dumps(batch))
        _dispatch_published(hub, orjson.dumps(envelope("user-1", 4)))  # a lone envelope
        for garbage in (b"not json", b'[{"type": "subscription.status_changed"}]', b"42"):
            _dispatch_published(hub, garbage)
        got = [(await asyncio.wait_for(mine.get(), 1)).reason for _ in range(3)]
        assert got == ["change-1", "change-3", "change-4"]
        follow_up = asyncio.create_task(mine.get())
        await asyncio.sleep(0.01)
        assert not follow_up.done()  # the garbage delivered nothing
        follow_up.cancel()
