"""Event benchmarks on a tansu broker started here.

- Relay: N outbox rows published by the outbox relay (claim, order check, send with
  acks=all, mark published) vs a bare aiokafka producer sending the same messages
  with `send`; and vs its own publisher alone (produce batches, no database), which
  says what the database's part costs.
- Consumer: N `payment.processed` messages applied by the service's consumer loop
  (parse, validate, inbox, payment and subscription update) vs a bare `getmany` loop
  that only reads them.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from bench.common import Report, Result, drop_database, fresh_database
from bench.lifecycle import NOW
from services.app.inbound import make_handler
from services.app.relay import OutboxRelay
from services.gateway.local import LocalGateway
from services.messaging.kafka import KafkaConsumerLoop, KafkaPublisher
from services.messaging.publisher import OutboundMessage
from services.platform.clock import FrozenClock
from services.platform.config import Settings
from services.platform.deps import Deps
from services.platform.heap import WORKER_YOUNG_THRESHOLD, settle_heap
from services.pricing.seed import seed_plans
from services.store.db import make_engine, make_session_factory
from tests.kafka_broker import TansuBroker


def _envelope(n: int) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "source": "urn:bench",
        "type": "subscription.status_changed",
        "specversion": "1.0",
        "time": NOW.isoformat(),
        "subject": f"user-{n % 1000}",
        "datacontenttype": "application/json",
        "dataversion": "1",
        "data": {
            "userId": f"user-{n % 1000}",
            "from": "TRIALING",
            "to": "ACTIVE",
            "reason": "trial_converted",
        },
    }


async def fill_outbox(url: str, count: int) -> list[dict[str, object]]:
    envelopes = [_envelope(n) for n in range(count)]
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("TRUNCATE outbox")
        await connection.copy_records_to_table(
            "outbox",
            records=[
                (
                    e["id"],
                    "bench.events",
                    e["subject"],
                    e["type"],
                    orjson.dumps(e).decode(),
                    NOW,
                    None,
                )
                for e in envelopes
            ],
            columns=[
                "event_id",
                "topic",
                "key",
                "event_type",
                "envelope",
                "created_at",
                "published_at",
            ],
        )
    finally:
        await connection.close()
    return envelopes


async def bare_producer(bootstrap: str, envelopes: list[dict[str, object]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        started = time.perf_counter()
        pending = [
            await producer.send("bench.bare", orjson.dumps(e), key=str(e["subject"]).encode())
            for e in envelopes
        ]
        await asyncio.gather(*pending)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def publisher_alone(bootstrap: str, envelopes: list[dict[str, object]]) -> float:
    """The relay's publisher with no database: what the relay could reach at most."""
    publisher = KafkaPublisher(bootstrap, "bench")
    messages = [OutboundMessage.of("bench.bare", str(e["subject"]), e) for e in envelopes]
    try:
        await publisher.start()
        started = time.perf_counter()
        await publisher.publish(messages)
        return time.perf_counter() - started
    finally:
        await publisher.close()


async def relay_run(url: str, bootstrap: str, batch: int) -> float:
    engine = make_engine(url, pool_size=2)
    publisher = KafkaPublisher(bootstrap, "bench")
    relay = OutboxRelay(make_session_factory(engine), publisher, FrozenClock(NOW), batch_size=batch)
    try:
        await publisher.start()  # connected before the clock starts, as the bare producer is
        started = time.perf_counter()
        await relay.drain()
        return time.perf_counter() - started
    finally:
        await publisher.close()
        await engine.dispose()


async def seed_payments(url: str, count: int) -> list[bytes]:
    """`count` subscriptions waiting on a payment, and one payment.processed for each."""
    engine = make_engine(url, pool_size=1)
    async with make_session_factory(engine)() as session:
        await seed_plans(session, NOW)
    await engine.dispose()
    connection = await asyncpg.connect(url)
    try:
        plan_id = await connection.fetchval("SELECT id FROM plans WHERE code = 'premium'")
        await connection.execute(
            """
            INSERT INTO subscriptions (id, user_id, plan_id, status, payment_confirmation, is_current,
                cancel_at_period_end, status_updated_at, price_paid_cents, currency,
                payment_processor, retry_count, is_active, created_at, updated_at)
            SELECT gen_random_uuid(), 'payer-' || n, $2, 'PENDING', 'PENDING', true, false, $3, 0,
                'USD', 'local', 0, true, $3, $3
            FROM generate_series(1, $1) n
            """,
            count,
            plan_id,
            NOW,
        )
        await connection.execute(
            """
            INSERT INTO payments (id, owner_id, order_id, purpose, amount_cents, currency, payment_id,
                payment_status, status_literal, idempotency_key, platform, is_active, attempt,
                created_at, updated_at)
            SELECT gen_random_uuid(), s.user_id, s.id, 'FIRST_PAYMENT', 999, 'USD',
                'pi_bench_' || s.user_id, 'requires_action', 'started', 'key-' || s.user_id,
                'local', true, 0, $1, $1
            FROM subscriptions s
            """,
            NOW,
        )
    finally:
        await connection.close()
    when = datetime.now(UTC).isoformat()
    return [
        orjson.dumps(
            {
                "id": str(uuid.uuid4()),
                "source": "urn:bench",
                "type": "payment.processed",
                "specversion": "1.0",
                "time": when,
                "data": {"status": "succeeded", "processorPaymentId": f"pi_bench_payer-{n}"},
            }
        )
        for n in range(1, count + 1)
    ]


def produced_key(n: int) -> str:
    return str(n % 1000)


def last_of_each_partition(count: int, partitions: int = 3) -> list[int]:
    """Which of `count` produced messages is the last on its partition (the default
    partitioner's choice for its key): once those are applied, all are, since each
    partition is applied in order. Three probes, not one per key, so the benchmark's
    polling takes next to no database time from the consumer it measures."""
    choices = list(range(partitions))
    last = {
        DefaultPartitioner()(produced_key(n).encode(), choices, choices): n for n in range(count)
    }
    return sorted(last.values())


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        pending = [
            await producer.send(topic, v, key=produced_key(i).encode())
            for i, v in enumerate(values)
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def bare_getmany(bootstrap: str, topic: str, count: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bare-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen, started = 0, time.perf_counter()
        while seen < count:
            for partition, records in (await consumer.getmany(timeout_ms=200)).items():
                seen += len(records)
                await consumer.commit({partition: records[-1].offset + 1})
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def service_consumer(url: str, bootstrap: str, topic: str, messages: list[bytes]) -> float:
    """Messages a second, from the first applied batch to the last message."""
    count = len(messages)
    last = [orjson.loads(messages[n])["id"] for n in last_of_each_partition(count)]
    engine = make_engine(url, pool_size=4)
    settings = Settings(database_url=url, topic_payment_processed=topic)
    deps = Deps(settings, make_session_factory(engine), FrozenClock(NOW), LocalGateway())

    async def dead_letter(key: str | None, record: dict[str, object]) -> None:
        raise RuntimeError(f"benchmark message dead-lettered: {record['reason']}")

    loop = KafkaConsumerLoop(
        bootstrap, f"svc-{uuid.uuid4().hex[:6]}", [topic], make_handler(deps, dead_letter)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    connection = await asyncpg.connect(url)
    applied = "SELECT count(*) FROM processed_messages"
    finished = (
        "SELECT count(*) FROM processed_messages"
        " WHERE source = 'kafka' AND message_id = ANY($1::text[])"
    )
    try:
        # The clock starts at the first applied batch, as the bare loop's starts after
        # its consumer joined the group: both leave the group join out.
        while not await connection.fetchval("SELECT EXISTS (SELECT FROM processed_messages)"):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        first = await connection.fetchval(applied)
        started = time.perf_counter()
        while await connection.fetchval(finished, last) < len(last):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        assert await connection.fetchval(applied) == count
        return (count - first) / elapsed
    finally:
        stop.set()
        await task
        await connection.close()
        await engine.dispose()


def run(report: Report, count: int, batch: int) -> None:
    # Consumers and relay run here: with the GC settings of `main.py worker`.
    settle_heap(WORKER_YOUNG_THRESHOLD)
    broker = TansuBroker()
    broker.start()
    url, admin = fresh_database("events")
    try:
        asyncio.run(broker.create_topics(["bench.events", "bench.bare", "bench.payments"]))
        envelopes = asyncio.run(fill_outbox(url, count))
        bare = asyncio.run(bare_producer(broker.bootstrap, envelopes))
        alone = asyncio.run(publisher_alone(broker.bootstrap, envelopes))
        relayed = asyncio.run(relay_run(url, broker.bootstrap, batch))
        report.add(Result(f"events: bare aiokafka producer ({count} msgs)", count / bare, "msg/s"))
        report.add(Result("events: outbox relay", count / relayed, "msg/s", count / bare, ">= 0.5"))
        report.add(
            Result(
                "events: outbox relay vs its publisher alone",
                count / relayed,
                "msg/s",
                count / alone,
            )
        )
        messages = asyncio.run(seed_payments(url, count))
        asyncio.run(produce(broker.bootstrap, "bench.payments", messages))
        bare_read = asyncio.run(bare_getmany(broker.bootstrap, "bench.payments", count))
        applied_rate = asyncio.run(
            service_consumer(url, broker.bootstrap, "bench.payments", messages)
        )
        report.add(Result(f"events: bare getmany loop ({count} msgs)", count / bare_read, "msg/s"))
        report.add(
            Result(
                "events: payment.processed consumer",
                applied_rate,
                "msg/s",
                count / bare_read,
                ">= 0.2",
            )
        )
    finally:
        drop_database(url, admin)
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=Settings().outbox_batch_size)
    args = parser.parse_args()
    report = Report()
    run(report, args.messages, args.batch)
    report.print_table()
    print(f"\nwritten to {report.write('events')}")


if __name__ == "__main__":
    main()
