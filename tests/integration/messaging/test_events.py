"""Events against a real Kafka-protocol broker (tansu, started here): schemas, the
outbox relay under broker outages and crashes, consumers, dead letters."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.app.inbound import make_handler
from services.app.relay import OutboxRelay
from services.common.errors import DomainError
from services.messaging.kafka import KafkaConsumerLoop, KafkaPublisher
from services.messaging.publisher import OutboundMessage, PublishError
from services.platform.deps import Deps
from services.pricing import broadcasts, catalog
from services.reads import queries
from services.subscriptions import checkout, fulfillment_updates, interruptions, plan_changes
from services.subscriptions.fulfillment import Channel, Fulfillment
from services.subscriptions.lifecycle import Status
from tests.conftest import scalar
from tests.integration.subscriptions.test_checkout import used_trial
from tests.kafka_broker import TansuBroker, until

SCHEMAS = Path(__file__).resolve().parents[3] / "docs" / "events"
PRODUCED = [
    "subscription.status_changed",
    "subscription.started",
    "subscription.cancelled",
    "subscription.upgraded",
    "fulfillment.requested",
    "pricing.changed",
    "notification.requested",
    "subscription.command_rejected",
    "plan.updated",
]
CONSUMED = [
    "payment.processed",
    "subscription.subscribe",
    "subscription.cancel",
    "usage.recorded",
]
DEAD_LETTER = "subscription.dead-letter"


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


@pytest.fixture(scope="module")
def broker():
    tansu = TansuBroker()
    tansu.start()
    asyncio.run(tansu.create_topics([*PRODUCED, *CONSUMED, DEAD_LETTER]))
    yield tansu
    tansu.stop()


def relay_for(deps: Deps, publisher) -> OutboxRelay:
    return OutboxRelay(deps.session_factory, publisher, deps.clock, batch_size=200)


async def outbox(deps: Deps) -> list[dict]:
    rows = await scalar(deps, "SELECT coalesce(json_agg(envelope ORDER BY id), '[]') FROM outbox")
    return list(rows)  # type: ignore[arg-type]


async def consume(broker: TansuBroker, topics: Sequence[str], count: int, group: str | None = None):
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=broker.bootstrap,
        group_id=group or f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(got) < count and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                got.extend(records)
    finally:
        await consumer.stop()
    return got


async def test_the_publisher_batches_each_key_where_send_would_put_it_in_order(broker):
    suffix = uuid.uuid4().hex[:6]
    batched, plain = f"publisher-batched-{suffix}", f"publisher-plain-{suffix}"
    await broker.create_topics([batched, plain])
    padding = "x" * 2000  # ~1.2 MB in all: several produce batches per partition
    messages = [
        OutboundMessage.of(batched, f"key-{n % 40}", {"n": n, "padding": padding})
        for n in range(600)
    ]
    publisher = KafkaPublisher(broker.bootstrap, "test")
    await publisher.publish(messages)
    await publisher.close()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        for message in messages:
            await producer.send_and_wait(plain, message.value, key=message.key.encode())
    finally:
        await producer.stop()
    got = await consume(broker, [batched], len(messages))
    reference = {r.key: r.partition for r in await consume(broker, [plain], len(messages))}
    assert len(got) == len(messages)
    assert len({record.partition for record in got}) == 3
    sequences: dict[bytes, list[int]] = {}
    for record in got:
        assert record.partition == reference[record.key]
        assert dict(record.headers)["content-type"] == b"application/cloudevents+json"
        sequences.setdefault(record.key, []).append(orjson.loads(record.value)["n"])
    for key, sequence in sequences.items():
        assert sequence == sorted(sequence), key
        assert len(sequence) == 15


async def test_every_produced_event_matches_its_schema(deps, clock):
    from datetime import timedelta

    await checkout.subscribe(deps, checkout.Subscribe("ada", "ad-free", "pm_card_visa"))
    await plan_changes.upgrade(deps, plan_changes.Upgrade("ada", "premium"))
    await fulfillment_updates.update_fulfillment(
        deps, "ada", Fulfillment(Channel.PICKUP, store_id="store-9")
    )
    await interruptions.cancel(deps, interruptions.CancelSubscription("ada", reason="bye"))
    await catalog.set_plan_price(deps, "root", catalog.SetPlanPrice("premium", 1099, "USD"))
    await catalog.update_plan(deps, catalog.UpdatePlan("premium", name="Premium 2"))
    await broadcasts.run_pending(deps)
    await used_trial(deps, "bob")
    await checkout.subscribe(deps, checkout.Subscribe("bob", "premium", "pm_card_visa"))
    await fulfillment_updates.update_fulfillment(deps, "bob", Fulfillment(Channel.DIGITAL))
    clock.advance(timedelta(days=31))
    from services.collection import scheduler

    await scheduler.run_due_work(deps)  # a renewal: fulfillment.requested
    seen = set()
    for envelope in await outbox(deps):
        jsonschema.validate(envelope, schema(envelope["type"]))
        seen.add(envelope["type"])
    assert seen >= set(PRODUCED) - {"subscription.command_rejected"}


async def test_a_rolled_back_change_publishes_nothing(deps, gateway, broker):
    await used_trial(deps, "cy")
    before = await scalar(deps, "SELECT count(*) FROM outbox")
    gateway.available = False
    with pytest.raises(DomainError):
        await checkout.subscribe(deps, checkout.Subscribe("cy", "premium"))
    assert await scalar(deps, "SELECT count(*) FROM outbox") == before
    publisher = KafkaPublisher(broker.bootstrap, "test")
    relay = relay_for(deps, publisher)
    assert await relay.drain() == before  # only what was committed before
    await publisher.close()


async def test_broker_down_then_back_delivers_everything_in_per_user_order(deps, broker):
    broker.stop()
    users = [f"user-{n}" for n in range(100)]
    for user in users:  # 100 users x 10 changes = 1,000 state changes while the broker is down
        for _ in range(5):
            await checkout.subscribe(deps, checkout.Subscribe(user, "premium", "pm_card_visa"))
            await interruptions.cancel(
                deps, interruptions.CancelSubscription(user, at_period_end=False)
            )
    changes = await scalar(deps, "SELECT count(*) FROM subscription_history")
    assert changes >= 1000  # trials, checkouts (pending, active) and cancellations
    publisher = KafkaPublisher(broker.bootstrap, "test")
    relay = relay_for(deps, publisher)
    with pytest.raises(PublishError):
        await relay.relay_once()
    assert await scalar(deps, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") == 0
    broker.start()
    await broker.create_topics([*PRODUCED, *CONSUMED, DEAD_LETTER])
    published = await relay.drain()
    await publisher.close()
    expected = await outbox(deps)
    assert published == len(expected)
    topic = "subscription.status_changed"
    wanted = [e for e in expected if e["type"] == topic]
    records = await consume(broker, [topic], len(wanted))
    assert len(records) == len(wanted)
    by_user: dict[str, list[str]] = {}
    for record in records:
        by_user.setdefault(record.key.decode(), []).append(orjson.loads(record.value)["id"])
    for user in users:
        assert by_user[user] == [e["id"] for e in wanted if e["subject"] == user]


class DiesAfterPublishing:
    """Publishes, then dies before the relay can mark the rows published."""

    def __init__(self, inner: KafkaPublisher) -> None:
        self.inner = inner

    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        await self.inner.publish(messages)
        raise RuntimeError("relay killed")


async def test_a_relay_killed_after_publishing_causes_duplicates_consumers_absorb(deps, broker):
    topic = "subscription.subscribe"
    command = {
        "id": f"cmd-{uuid.uuid4()}",
        "source": "urn:test",
        "type": "subscription.subscribe",
        "specversion": "1.0",
        "data": {"userId": "dot", "planCode": "premium", "paymentMethodId": "pm_card_visa"},
    }
    inner = KafkaPublisher(broker.bootstrap, "test")
    dying = DiesAfterPublishing(inner)
    message = OutboundMessage.of(topic, "dot", command)
    with pytest.raises(RuntimeError):
        await dying.publish([message])
    await inner.publish([message])  # the restarted relay sends it again
    await inner.close()
    handle = make_handler(deps, dead_letter=lambda key, record: asyncio.sleep(0))
    for record in await consume(broker, [topic], 2):
        write = await handle(record.topic, [(record.key, record.value)])
        await write()
    subscriptions = await scalar(deps, "SELECT count(*) FROM subscriptions WHERE user_id='dot'")
    assert subscriptions == 1
    # And the relay itself: rows stay unpublished when it dies, so they go out again.
    await checkout.subscribe(deps, checkout.Subscribe("eli", "premium", "pm_card_visa"))
    kafka = KafkaPublisher(broker.bootstrap, "test")
    relay = relay_for(deps, DiesAfterPublishing(kafka))
    with pytest.raises(RuntimeError):
        await relay.relay_once()
    await kafka.close()
    assert await scalar(deps, "SELECT count(*) FROM outbox WHERE published_at IS NULL") > 0


async def with_own_topics(deps: Deps, broker: TansuBroker) -> Deps:
    """Consumed and dead-letter topics fresh for one test, so no message of an earlier
    test is read again."""
    suffix = uuid.uuid4().hex[:6]
    settings = deps.settings.model_copy(
        update={
            "topic_payment_processed": f"payment.processed.{suffix}",
            "topic_subscribe_command": f"subscription.subscribe.{suffix}",
            "topic_cancel_command": f"subscription.cancel.{suffix}",
            "topic_usage_recorded": f"usage.recorded.{suffix}",
            "topic_dead_letter": f"subscription.dead-letter.{suffix}",
        }
    )
    await broker.create_topics(
        [
            settings.topic_payment_processed,
            settings.topic_subscribe_command,
            settings.topic_cancel_command,
            settings.topic_usage_recorded,
            settings.topic_dead_letter,
        ]
    )
    return dataclasses.replace(deps, settings=settings)


async def run_consumer(deps: Deps, broker: TansuBroker, done, dead: list | None = None):  # type: ignore[no-untyped-def]
    """Run the service's consumer loop until `done()`; returns what it dead-lettered."""
    dead = [] if dead is None else dead
    publisher = KafkaPublisher(broker.bootstrap, "test")
    settings = deps.settings

    async def dead_letter(key, record):  # type: ignore[no-untyped-def]
        dead.append(record)
        await publisher.publish([OutboundMessage.of(settings.topic_dead_letter, key or "", record)])

    topics = [
        settings.topic_payment_processed,
        settings.topic_subscribe_command,
        settings.topic_cancel_command,
        settings.topic_usage_recorded,
    ]
    loop = KafkaConsumerLoop(
        broker.bootstrap, f"svc-{uuid.uuid4().hex[:6]}", topics, make_handler(deps, dead_letter)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        await until(done, 30)
    finally:
        stop.set()
        await task
        await publisher.close()
    return dead


async def produce(broker: TansuBroker, topic: str, values: Sequence[bytes], key: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def test_the_same_payment_processed_100_times_applies_once(deps, broker):
    deps = await with_own_topics(deps, broker)
    await used_trial(deps, "fay")
    pending = await checkout.subscribe(
        deps, checkout.Subscribe("fay", "premium", "pm_card_authenticationRequired")
    )
    assert pending.payment and pending.subscription
    event = {
        "id": f"pay-{uuid.uuid4()}",
        "source": "urn:billing",
        "type": "payment.processed",
        "specversion": "1.0",
        "time": datetime.now(UTC).isoformat(),
        "data": {"status": "succeeded", "processorPaymentId": pending.payment.processor_payment_id},
    }
    jsonschema.validate(event, schema("payment.processed"))
    await produce(
        broker, deps.settings.topic_payment_processed, [orjson.dumps(event)] * 100, b"fay"
    )

    async def all_seen() -> bool:
        return (
            await scalar(deps, "SELECT count(*) FROM processed_messages WHERE source='kafka'") == 1
            and (
                await scalar(
                    deps,
                    "SELECT status FROM subscriptions WHERE id=:id",
                    id=pending.subscription.id,
                )
            )
            == "ACTIVE"
        )

    await run_consumer(deps, broker, all_seen)
    activations = await scalar(
        deps, "SELECT count(*) FROM subscription_history WHERE user_id='fay' AND to_status='ACTIVE'"
    )
    assert activations == 1


async def test_poison_messages_go_to_the_dead_letter_topic(deps, broker):
    deps = await with_own_topics(deps, broker)
    poison = [
        b"not json at all",
        orjson.dumps({"id": "x1", "type": "subscription.subscribe"}),  # not a CloudEvent
        orjson.dumps(
            {
                "id": "x2",
                "source": "s",
                "type": "subscription.subscribe",
                "specversion": "1.0",
                "data": {"userId": "has spaces", "planCode": "premium"},
            }
        ),
        orjson.dumps(
            {
                "id": "x3",
                "source": "s",
                "type": "subscription.subscribe",
                "specversion": "1.0",
                "data": {"userId": "nel", "planCode": "prem\u0000ium"},
            }
        ),
    ]
    await produce(broker, deps.settings.topic_subscribe_command, poison, b"poison")
    dead: list[dict] = []

    async def four_dead() -> bool:
        return len(dead) >= 4

    await run_consumer(deps, broker, four_dead, dead)
    reasons = [d["reason"] for d in dead]
    assert reasons[0].startswith("not JSON")
    assert reasons[1].startswith("not a CloudEvent")
    assert reasons[2].startswith("invalid subscription.subscribe")
    assert reasons[3] == "data.planCode contains a NUL character, which cannot be stored"
    records = await consume(broker, [deps.settings.topic_dead_letter], 4)
    assert [orjson.loads(r.value)["reason"] for r in records] == reasons
    assert await scalar(deps, "SELECT count(*) FROM subscriptions") == 0


async def test_commands_from_kafka_match_the_mutations(deps, broker):
    deps = await with_own_topics(deps, broker)

    def command(kind: str, data: dict) -> bytes:
        return orjson.dumps(
            {
                "id": f"cmd-{uuid.uuid4()}",
                "source": "urn:shop",
                "type": kind,
                "specversion": "1.0",
                "data": data,
            }
        )

    await produce(
        broker,
        deps.settings.topic_subscribe_command,
        [
            command(
                "subscription.subscribe",
                {"userId": "via-kafka", "planCode": "premium", "paymentMethodId": "pm_card_visa"},
            ),
            command(
                "subscription.subscribe",
                {"userId": "nobody", "planCode": "gold", "paymentMethodId": "pm_card_visa"},
            ),
        ],
        b"k",
    )

    async def handled(count: int):  # type: ignore[no-untyped-def]
        async def check() -> bool:
            done = "SELECT count(*) FROM processed_messages WHERE source='kafka'"
            return await scalar(deps, done) == count

        return check

    assert await run_consumer(deps, broker, await handled(2)) == []
    # Commands on different topics have no order between them: cancel once subscribed.
    await produce(
        broker,
        deps.settings.topic_cancel_command,
        [command("subscription.cancel", {"userId": "via-kafka", "reason": "r"})],
        b"k",
    )
    await checkout.subscribe(deps, checkout.Subscribe("via-api", "premium", "pm_card_visa"))
    await interruptions.cancel(deps, interruptions.CancelSubscription("via-api", reason="r"))

    # A new consumer group reads the topics from the start: the subscribes come again
    # and the inbox drops them.
    assert await run_consumer(deps, broker, await handled(3)) == []
    kafka_view = await queries.subscription_of(deps, "via-kafka")
    api_view = await queries.subscription_of(deps, "via-api")
    assert kafka_view and api_view
    same = ("status", "cancel_at_period_end", "cancel_reason", "payment_confirmation")
    assert {f: getattr(kafka_view, f) for f in same} == {f: getattr(api_view, f) for f in same}
    assert kafka_view.status is Status.CANCELED and kafka_view.plan.code == api_view.plan.code
    assert kafka_view.entitlements.features == api_view.entitlements.features
    reasons = "SELECT array_agg(reason ORDER BY id) FROM subscription_history WHERE user_id=:u"
    assert await scalar(deps, reasons, u="via-kafka") == await scalar(deps, reasons, u="via-api")
    rejected = await scalar(
        deps, "SELECT envelope FROM outbox WHERE event_type = 'subscription.command_rejected'"
    )
    assert rejected["data"]["code"] == "PLAN_NOT_FOUND" and rejected["subject"] == "nobody"
    jsonschema.validate(rejected, schema("subscription.command_rejected"))


def test_consumed_schemas_agree_with_the_validators():
    from services.app.inbound import CancelSubscriptionCommand, PaymentProcessed, SubscribeUser
    from services.app.usage_messages import UsageRecorded

    good = {
        "subscription.subscribe": {"userId": "u1", "planCode": "premium"},
        "subscription.cancel": {"userId": "u1", "atPeriodEnd": False},
        "payment.processed": {"status": "failed", "processorPaymentId": "pi_1"},
        "usage.recorded": {"userId": "u1", "meterKey": "ai.calls", "quantity": 2},
    }
    bad = {
        "subscription.subscribe": {"userId": "u 1", "planCode": "premium"},
        "subscription.cancel": {"atPeriodEnd": False},
        "payment.processed": {"status": "maybe"},
        "usage.recorded": {"userId": "u 1", "meterKey": "ai.calls", "quantity": 2},
    }
    models = {
        "subscription.subscribe": SubscribeUser,
        "subscription.cancel": CancelSubscriptionCommand,
        "payment.processed": PaymentProcessed,
        "usage.recorded": UsageRecorded,
    }
    for name, model in models.items():
        envelope = {"id": "1", "source": "s", "type": name, "specversion": "1.0"}
        jsonschema.validate({**envelope, "data": good[name]}, schema(name))
        model.model_validate(good[name])
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**envelope, "data": bad[name]}, schema(name))
        with pytest.raises(ValueError):
            model.model_validate(bad[name])
