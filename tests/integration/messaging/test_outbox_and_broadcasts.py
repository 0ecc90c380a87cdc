"""The relay's ordering with several relays, pruning, and the pricing broadcast."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest

from services.app.relay import OutboxRelay
from services.common.errors import DomainError, ErrorCode
from services.messaging.publisher import InProcessBus, OutboundMessage, PublishError
from services.pricing import broadcasts, catalog
from services.subscriptions import checkout, fulfillment_updates, interruptions
from services.subscriptions.fulfillment import Address, Channel, Fulfillment
from tests.conftest import execute, scalar


class Recorder:
    """Shared by several relays: the order in which events reached 'the broker'."""

    def __init__(self) -> None:
        self.seen: list[OutboundMessage] = []

    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        for message in messages:
            self.seen.append(message)
            await asyncio.sleep(0)  # let the other relay run in between


async def test_several_relays_never_reorder_one_users_events(deps):
    for n in range(30):
        user = f"u{n % 5}"  # five users, many events each
        await checkout.subscribe(deps, checkout.Subscribe(user, "premium", "pm_card_visa"))
        await interruptions.cancel(
            deps, interruptions.CancelSubscription(user, at_period_end=False)
        )
    expected = await scalar(
        deps, "SELECT json_agg(json_build_array(key, event_id) ORDER BY id) FROM outbox"
    )
    recorder = Recorder()
    relays = [
        OutboxRelay(deps.session_factory, recorder, deps.clock, batch_size=7) for _ in range(3)
    ]
    await asyncio.gather(*(relay.drain() for relay in relays))
    assert await scalar(deps, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    seen = [(m.key, m.envelope["id"]) for m in recorder.seen]
    assert len(seen) == len(set(seen)) == len(expected)
    for user in {key for key, _ in expected}:
        assert [e for k, e in seen if k == user] == [e for k, e in expected if k == user]


class FailsOnce:
    """Slow to acknowledge (so a relay's next batch is claimed meanwhile), and refuses
    its `fail_on`th publish; records how many publishes ever ran at once."""

    def __init__(self, fail_on: int) -> None:
        self.seen: list[OutboundMessage] = []
        self.calls, self.running, self.most_at_once = 0, 0, 0
        self.fail_on = fail_on

    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        self.calls += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(0.05)
            if self.calls == self.fail_on:
                raise PublishError("broker refused the batch")
            self.seen.extend(messages)
        finally:
            self.running -= 1


async def test_a_failed_batch_stops_the_batches_claimed_after_it_unsent(deps):
    for n in range(12):
        user = f"p{n % 3}"
        await checkout.subscribe(deps, checkout.Subscribe(user, "premium", "pm_card_visa"))
        await interruptions.cancel(
            deps, interruptions.CancelSubscription(user, at_period_end=False)
        )
    expected = await scalar(
        deps, "SELECT json_agg(json_build_array(key, event_id) ORDER BY id) FROM outbox"
    )
    assert len(expected) > 3 * 5  # more batches than the relay keeps in flight
    failing = FailsOnce(fail_on=2)
    relay = OutboxRelay(deps.session_factory, failing, deps.clock, batch_size=5)
    with pytest.raises(PublishError):  # the refused batch is reported
        await relay.drain()
    assert failing.most_at_once == 1  # a batch is sent only once the one before it was acked
    first = [(m.key, m.envelope["id"]) for m in failing.seen]
    assert first == [tuple(e) for e in expected[:5]]  # only the batch before the failure
    published = await scalar(deps, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
    assert published == 5  # the refused batch and the one claimed after it stay unpublished
    again = FailsOnce(fail_on=0)
    await OutboxRelay(deps.session_factory, again, deps.clock, batch_size=5).drain()
    assert again.most_at_once == 1
    seen = first + [(m.key, m.envelope["id"]) for m in again.seen]
    assert sorted(seen) == sorted(tuple(e) for e in expected)
    for user in {key for key, _ in expected}:
        assert [e for k, e in seen if k == user] == [e for k, e in expected if k == user]


async def test_the_in_process_bus_delivers_relayed_events(deps):
    bus = InProcessBus()
    received: list[str] = []

    async def listener(message: OutboundMessage) -> None:
        received.append(message.envelope["type"])

    unsubscribe = bus.subscribe(listener)
    await checkout.subscribe(deps, checkout.Subscribe("zed", "premium", "pm_card_visa"))
    await OutboxRelay(deps.session_factory, bus, deps.clock).drain()
    unsubscribe()
    assert "subscription.started" in received


async def test_published_rows_are_pruned_after_the_retention(deps, clock):
    await checkout.subscribe(deps, checkout.Subscribe("amy", "premium", "pm_card_visa"))
    relay = OutboxRelay(deps.session_factory, InProcessBus(), clock, retention=timedelta(hours=72))
    published = await relay.drain()
    assert published > 0
    clock.advance(timedelta(hours=71))
    assert await relay.prune() == 0
    clock.advance(timedelta(hours=2))
    assert await relay.prune() == published
    assert await scalar(deps, "SELECT count(*) FROM outbox") == 0


async def test_a_price_change_reaches_every_known_user_once_even_after_a_crash(deps):
    users = [f"user-{n:04d}" for n in range(1234)]
    await execute(
        deps,
        "INSERT INTO payment_customers (id, user_id, customer_id, platform, is_active) "
        "SELECT gen_random_uuid(), u, 'cus_' || u, 'local', true "
        "FROM unnest(CAST(:users AS text[])) u",
        users=users,
    )
    await checkout.subscribe(deps, checkout.Subscribe("subscriber", "premium", "pm_card_visa"))
    await catalog.set_plan_price(deps, "root", catalog.SetPlanPrice("premium", 1199, "USD"))
    assert await broadcasts.send_batch(deps, batch_size=500) == 500  # then the worker "dies"
    assert await broadcasts.run_pending(deps, batch_size=500) == len(users) + 1 - 500
    counts = await scalar(
        deps,
        "SELECT json_object_agg(u, c) FROM (SELECT envelope->'data'->>'userId' u, count(*) c "
        "FROM outbox WHERE envelope->'data'->>'template' = 'new_pricing' GROUP BY 1) x",
    )
    assert len(counts) == len(users) + 1 and set(counts.values()) == {1}
    assert await scalar(deps, "SELECT sent FROM broadcasts") == len(users) + 1
    assert await broadcasts.run_pending(deps) == 0


async def test_fulfillment_can_change_and_is_validated(deps):
    await checkout.subscribe(deps, checkout.Subscribe("fin", "premium", "pm_card_visa"))
    address = Address("2 Broad St", "Accra", "00233", "GH")
    view = await fulfillment_updates.update_fulfillment(
        deps, "fin", Fulfillment(Channel.SHIPPING, address=address)
    )
    assert view.fulfillment and view.fulfillment["channel"] == "SHIPPING"
    reason = "SELECT reason FROM subscription_history WHERE user_id='fin' ORDER BY id DESC LIMIT 1"
    assert await scalar(deps, reason) == "fulfillment_updated"
    try:
        await fulfillment_updates.update_fulfillment(deps, "fin", Fulfillment(Channel.PICKUP))
    except DomainError as error:
        assert error.code is ErrorCode.INVALID_INPUT
    else:
        raise AssertionError("pickup without a store was accepted")
    assert (
        await scalar(deps, "SELECT fulfillment->>'channel' FROM subscriptions WHERE user_id='fin'")
        == "SHIPPING"
    )
