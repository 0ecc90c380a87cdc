"""Usage recorded in bulk, as the usage issue asks, each against a baseline in the same run:

- `POST /api/v1/usage` with batches of 1,000 events (a SUM meter without a hard limit,
  1,000 users) vs a plain multi-row `INSERT` of the same rows into `usage_events`
  (target >= 0.3);
- the `usage.recorded` consumer (parse, validate, count in batches) vs a hand-written
  consumer of the same messages: `getmany`, then the same rows (each event's request
  hash and answer, as the service stores them) written by one multi-row
  `INSERT … ON CONFLICT` per table per batch, in one transaction (target >= 0.5). Beside
  it, the earlier hand-written baseline, whose rows held a constant hash and an empty
  answer, and the bare `getmany` loop, which no stateful consumer can approach (no
  target: the hand-written consumer replaced it as the baseline).

`python -m bench.usage_batches [events]`.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer

from bench.common import Report, Result, drop_database, fresh_database
from bench.events import bare_getmany, last_of_each_partition, produce
from bench.http import _serve, stop
from services.app import migrate
from services.app.inbound import make_handler
from services.cache.access_cache import AccessCache, MemoryStore
from services.gateway.local import LocalGateway
from services.messaging.kafka import KafkaConsumerLoop
from services.platform.auth import Role, mint_token
from services.platform.clock import SystemClock
from services.platform.config import Settings
from services.platform.deps import Deps
from services.platform.heap import WORKER_YOUNG_THRESHOLD, settle_heap
from services.store.db import make_engine, make_session_factory
from services.usage import meters
from services.usage.rules import Aggregation, calendar_month
from tests.kafka_broker import TansuBroker

USERS = 1000
BATCH = 1000
PORT = 8188


def _events(prefix: str, count: int) -> list[dict[str, object]]:
    return [
        {
            "userId": f"user-{n % USERS}",
            "meterKey": "tokens",
            "quantity": 3,
            "eventId": f"{prefix}-{n}",
        }
        for n in range(count)
    ]


async def _define_tokens(url: str) -> None:
    """A SUM meter the free plan includes without limit: nothing can refuse an event."""
    await migrate.seed(url, SystemClock())
    engine = make_engine(url, pool_size=1)
    deps = Deps(
        Settings(database_url=url), make_session_factory(engine), SystemClock(), LocalGateway()
    )
    try:
        await meters.create_meter(
            deps, meters.CreateMeter("tokens", "Tokens", "token", Aggregation.SUM, "basic_content")
        )
        await meters.set_plan_quota(deps, meters.SetPlanQuota("free", "tokens", None, 0, False))
    finally:
        await engine.dispose()


async def plain_insert(url: str, count: int) -> float:
    """The same rows, 1,000 to a statement, straight into usage_events."""
    connection = await asyncpg.connect(url)
    meter_id = await connection.fetchval("SELECT id FROM meters WHERE key = 'tokens'")
    now = datetime.now(UTC)
    rows = [
        (e["userId"], e["eventId"], meter_id, e["quantity"], "x" * 64, True, "{}", now, now, now)
        for e in _events("plain", count)
    ]
    columns = "(user_id, event_id, meter_id, quantity, request_hash, counted, answer, period_start, occurred_at, recorded_at)"
    try:
        started = time.perf_counter()
        for start in range(0, count, BATCH):
            chunk = rows[start : start + BATCH]
            placeholders = ", ".join(
                "(" + ", ".join(f"${i * 10 + j + 1}" for j in range(10)) + ")"
                for i in range(len(chunk))
            )
            flat = [value for row in chunk for value in row]
            await connection.execute(
                f"INSERT INTO usage_events {columns} VALUES {placeholders}", *flat
            )
        return time.perf_counter() - started
    finally:
        await connection.execute("DELETE FROM usage_events WHERE event_id LIKE 'plain-%'")
        await connection.close()


def batched_route(url: str, count: int) -> float:
    settings = Settings()
    token = mint_token(settings, "meter", [Role.SERVICE], SystemClock().now(), timedelta(hours=1))
    service = _serve(["main.py", "serve", "--port", str(PORT)], {"DATABASE_URL": url}, PORT)
    try:
        events = _events("route", count)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{PORT}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ) as client:
            warm = client.post("/api/v1/usage", json={"events": _events("warm", 10)})
            assert warm.status_code == 200, warm.text
            started = time.perf_counter()
            for start in range(0, count, BATCH):
                answer = client.post(
                    "/api/v1/usage", json={"events": events[start : start + BATCH]}
                )
                assert answer.status_code == 200, answer.text
                assert all(r["counted"] for r in answer.json()["results"]), answer.text[:300]
            return time.perf_counter() - started
    finally:
        stop(service)


def _envelopes(count: int) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "id": str(uuid.uuid4()),
                "source": "bench",
                "type": "usage.recorded",
                "specversion": "1.0",
                "data": event,
            }
        )
        for event in _events("kafka", count)
    ]


async def service_consumer(url: str, bootstrap: str, topic: str, count: int) -> float:
    """Messages a second, from the first counted one to the last."""
    engine = make_engine(url, pool_size=4)
    settings = Settings(database_url=url, topic_usage_recorded=topic)
    # As `main.py worker` builds it without REDIS_URL: the in-process access cache.
    deps = Deps(
        settings,
        make_session_factory(engine),
        SystemClock(),
        LocalGateway(),
        cache=AccessCache(MemoryStore()),
    )

    async def dead_letter(key: str | None, record: dict[str, object]) -> None:
        raise RuntimeError(f"benchmark usage dead-lettered: {record['reason']}")

    loop = KafkaConsumerLoop(
        bootstrap, f"usage-{uuid.uuid4().hex[:6]}", [topic], make_handler(deps, dead_letter)
    )
    stop_loop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop_loop))
    connection = await asyncpg.connect(url)
    counted = "SELECT count(*) FROM usage_events WHERE event_id LIKE 'kafka-%'"
    # Done when each partition's last event is counted (see last_of_each_partition).
    last = last_of_each_partition(count)
    users, ids = [f"user-{n % USERS}" for n in last], [f"kafka-{n}" for n in last]
    finished = (
        "SELECT count(*) FROM usage_events e"
        " JOIN unnest($1::text[], $2::text[]) AS t(user_id, event_id)"
        " ON e.user_id = t.user_id AND e.event_id = t.event_id"
    )
    try:
        # The clock starts at the first counted event, as the bare loop's starts after
        # its consumer joined the group: both leave the group join out.
        while (first := await connection.fetchval(counted)) == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        while await connection.fetchval(finished, users, ids) < len(last):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        assert await connection.fetchval(counted) == count
        return (count - first) / elapsed
    finally:
        stop_loop.set()
        await task
        await connection.close()
        await engine.dispose()


# The baseline of earlier runs: a constant request hash and an empty answer, rows
# cheaper than the ones the service must write.
CONSTANT_EVENTS = """
INSERT INTO usage_events (user_id, event_id, meter_id, quantity, request_hash, counted,
                          answer, period_start, occurred_at, recorded_at)
SELECT u, e, $3, q, 'x', true, '{}'::jsonb, $4, $5, $5
FROM unnest($1::text[], $2::text[], $6::bigint[]) AS t(u, e, q)
ON CONFLICT DO NOTHING
"""
# The same rows as the service writes: each event's request hash (SHA-256 of the same
# canonical JSON) and its answer, its counter as it stood after it.
HAND_EVENTS = """
INSERT INTO usage_events (user_id, event_id, meter_id, quantity, request_hash, counted,
                          answer, period_start, occurred_at, recorded_at)
SELECT u, e, $3, q, h, true,
       jsonb_build_object('allowed', true, 'used', a, 'reason', NULL, 'resetsAt', $9::text,
                          'remaining', NULL),
       $4, $5, $5
FROM unnest($1::text[], $2::text[], $6::bigint[], $7::text[], $8::bigint[]) AS t(u, e, q, h, a)
ON CONFLICT DO NOTHING
"""
COUNTERS = """
INSERT INTO usage_counters (user_id, meter_id, period_start, period_end, used, pack_units)
SELECT u, $2, $3, $4, q, 0 FROM unnest($1::text[], $5::bigint[]) AS t(u, q)
ON CONFLICT (user_id, meter_id, period_start)
DO UPDATE SET used = usage_counters.used + excluded.used
"""
HAND_COUNTERS = COUNTERS + "RETURNING user_id, used"  # the answers need the values


def _digest(event: dict[str, Any]) -> str:
    fingerprint = {
        "at": None,
        "meter": event["meterKey"],
        "op": "record",
        "quantity": event["quantity"],
        "value": None,
    }
    return hashlib.sha256(orjson.dumps(fingerprint, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _afters(events: list[dict[str, Any]], totals: dict[str, int]) -> list[int]:
    """Each event's counter after it, from the counters' values after the batch."""
    afters = [0] * len(events)
    for index in range(len(events) - 1, -1, -1):
        user = events[index]["userId"]
        afters[index] = totals[user]
        totals[user] -= events[index]["quantity"]
    return afters


async def hand_written(
    url: str, bootstrap: str, topic: str, count: int, *, same_rows: bool
) -> float:
    """The honest baseline: the same messages read with `getmany`, parsed, and their
    rows written by one multi-row statement per table per batch, in one transaction,
    committed before the offsets. Messages a second from the first batch written, as
    the service's consumer is measured. `same_rows`: each event row holds what the
    service's holds (its request hash and its answer); else a constant hash and an
    empty answer (the baseline of earlier runs, cheaper than the rows the service
    must write)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"hand-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    connection = await asyncpg.connect(url)
    meter_id = await connection.fetchval("SELECT id FROM meters WHERE key = 'tokens'")
    now = datetime.now(UTC)
    start, end = calendar_month(now)
    await consumer.start()
    try:
        seen, first, started = 0, 0, 0.0
        while seen < count:
            for partition, records in (await consumer.getmany(timeout_ms=200)).items():
                events = [orjson.loads(record.value)["data"] for record in records]
                sums: dict[str, int] = {}
                for event in events:
                    sums[event["userId"]] = sums.get(event["userId"], 0) + event["quantity"]
                async with connection.transaction():
                    counters = (list(sums), meter_id, start, end, list(sums.values()))
                    if same_rows:
                        moved = await connection.fetch(HAND_COUNTERS, *counters)
                        await connection.execute(
                            HAND_EVENTS,
                            [e["userId"] for e in events],
                            [e["eventId"] for e in events],
                            meter_id,
                            start,
                            now,
                            [e["quantity"] for e in events],
                            [_digest(e) for e in events],
                            _afters(events, {row[0]: row[1] for row in moved}),
                            end.isoformat(),
                        )
                    else:
                        await connection.execute(COUNTERS, *counters)
                        await connection.execute(
                            CONSTANT_EVENTS,
                            [e["userId"] for e in events],
                            [e["eventId"] for e in events],
                            meter_id,
                            start,
                            now,
                            [e["quantity"] for e in events],
                        )
                await consumer.commit({partition: records[-1].offset + 1})
                if not started:
                    first, started = len(records), time.perf_counter()
                seen += len(records)
        return (count - first) / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        # The service's consumer counts the same events next: it must find none.
        await connection.execute("DELETE FROM usage_events WHERE event_id LIKE 'kafka-%'")
        await connection.execute("DELETE FROM usage_counters")
        await connection.close()


async def settle_tables(url: str) -> None:
    """Each consumer starts from the same tables: the rows an earlier run deleted are
    vacuumed away (else the next run's inserts of the same ids walk their dead index
    entries, and autovacuum may start in the middle of it)."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("VACUUM usage_events, usage_counters")
    finally:
        await connection.close()


def run(report: Report, count: int = 20_000) -> None:
    # The consumer runs in this process: with the GC settings of `main.py worker`.
    settle_heap(WORKER_YOUNG_THRESHOLD)
    url, admin = fresh_database("usage_batches")
    broker = TansuBroker()
    broker.start()
    try:
        asyncio.run(_define_tokens(url))
        plain = asyncio.run(plain_insert(url, count))
        routed = batched_route(url, count)
        report.add(Result(f"usage: plain multi-row INSERT ({count} rows)", count / plain, "rows/s"))
        report.add(
            Result(
                "usage: POST /api/v1/usage, 1,000 a batch",
                count / routed,
                "events/s",
                count / plain,
                ">= 0.3",
            )
        )
        asyncio.run(broker.create_topics(["bench.usage"]))
        asyncio.run(produce(broker.bootstrap, "bench.usage", _envelopes(count)))
        bare = asyncio.run(bare_getmany(broker.bootstrap, "bench.usage", count))
        asyncio.run(settle_tables(url))
        constant = asyncio.run(
            hand_written(url, broker.bootstrap, "bench.usage", count, same_rows=False)
        )
        asyncio.run(settle_tables(url))
        hand = asyncio.run(
            hand_written(url, broker.bootstrap, "bench.usage", count, same_rows=True)
        )
        asyncio.run(settle_tables(url))
        consumed = asyncio.run(service_consumer(url, broker.bootstrap, "bench.usage", count))
        report.add(Result(f"usage: bare getmany loop ({count} msgs)", count / bare, "msg/s"))
        report.add(
            Result("usage: hand-written consumer, the same rows as the service", hand, "msg/s")
        )
        report.add(
            Result(
                "usage: usage.recorded consumer vs hand-written",
                consumed,
                "msg/s",
                hand,
                ">= 0.5",
            )
        )
        report.add(
            Result("usage: hand-written consumer, constant hash and answer", constant, "msg/s")
        )
        report.add(
            Result(
                "usage: usage.recorded consumer vs constant-row hand-written",
                consumed,
                "msg/s",
                constant,
                None,
                "the earlier baseline: its rows hold no request hash and no answer",
            )
        )
        report.add(
            Result(
                "usage: usage.recorded consumer vs bare getmany",
                consumed,
                "msg/s",
                count / bare,
                None,
                "the first baseline: no consumer that writes approaches it",
            )
        )
    finally:
        broker.stop()
        drop_database(url, admin)


if __name__ == "__main__":
    report = Report()
    run(report, int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
    report.print_table()
    print(f"\nwritten to {report.write('usage_batches')}")
