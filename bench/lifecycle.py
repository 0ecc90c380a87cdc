"""Lifecycle benchmark: N subscriptions due for renewal, drained by the scheduler.

Baseline: one plain SQL UPDATE moving the same rows to their next period. The scheduler
does much more per row (a locked claim, the rules, a charge through the local gateway,
a payment, an invoice with its line and a gapless number, a history row, outbox events),
so the ratio says what that bookkeeping costs.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event

import asyncpg

from bench.common import Report, Result, drop_database, fresh_database
from services.collection.scheduler import run_due_work
from services.gateway.local import LocalGateway
from services.platform.clock import FrozenClock
from services.platform.config import Settings
from services.platform.deps import Deps
from services.platform.heap import WORKER_YOUNG_THRESHOLD, settle_heap
from services.pricing.seed import seed_plans
from services.store.db import make_engine, make_session_factory

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


async def seed(url: str, count: int) -> None:
    engine = make_engine(url, pool_size=1)
    async with make_session_factory(engine)() as session:
        await seed_plans(session, NOW - timedelta(days=400))
    await engine.dispose()
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "TRUNCATE subscription_history, invoice_lines, payments, invoices, invoice_counters,"
            " subscriptions, payment_methods, outbox, charge_deferrals CASCADE"
        )
        plan_id = await connection.fetchval("SELECT id FROM plans WHERE code = 'premium'")
        start, end = NOW - timedelta(days=31), NOW - timedelta(hours=1)
        await connection.execute(
            """
            INSERT INTO payment_methods (id, payment_method_id, user_id, customer_id, platform,
                card_info, is_default, is_active, created_at)
            SELECT gen_random_uuid(), 'pm_local_visa_' || n, 'bench-' || n, 'cus_local_' || n,
                'local', '{"brand":"visa","last4":"4242","exp_month":12,"exp_year":2034}',
                true, true, $2
            FROM generate_series(1, $1) n
            """,
            count,
            start,
        )
        await connection.execute(
            """
            INSERT INTO subscriptions (id, user_id, plan_id, status, payment_confirmation,
                is_current, billing_cycle_anchor, current_period_start, current_period_end,
                cancel_at_period_end, status_updated_at, price_paid_cents, currency,
                payment_processor, retry_count, is_active, created_at, updated_at)
            SELECT gen_random_uuid(), 'bench-' || n, $2, 'ACTIVE', 'PAID', true, $4, $3, $4,
                false, $3, 999, 'USD', 'local', 0, true, $3, $3
            FROM generate_series(1, $1) n
            """,
            count,
            plan_id,
            start,
            end - timedelta(days=0),
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def baseline_update(url: str) -> float:
    connection = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        await connection.execute(
            """
            UPDATE subscriptions
            SET current_period_start = current_period_end,
                current_period_end = current_period_end + interval '1 month',
                price_paid_cents = 999, updated_at = $1
            WHERE is_current AND status = 'ACTIVE' AND current_period_end <= $1
            """,
            NOW,
        )
        return time.perf_counter() - started
    finally:
        await connection.close()


async def drain(url: str, batch_size: int, ready: Callable[[], None] = lambda: None) -> int:
    engine = make_engine(url, pool_size=2)
    deps = Deps(
        settings=Settings(database_url=url),
        session_factory=make_session_factory(engine),
        clock=FrozenClock(NOW),
        gateway=LocalGateway(),
    )
    try:
        async with engine.connect():  # connected before the clock starts
            pass
        ready()
        return await run_due_work(deps, batch_size)
    finally:
        await engine.dispose()


def _worker(
    url: str,
    batch_size: int,
    ready: multiprocessing.Queue,  # type: ignore[type-arg]
    go: Event,
    results: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    settle_heap(WORKER_YOUNG_THRESHOLD)  # the GC settings `main.py worker` runs with

    def started() -> None:  # imported and connected: wait for the others, then go
        ready.put(True)
        go.wait()

    results.put(asyncio.run(drain(url, batch_size, started)))


def run_workers(url: str, workers: int, batch_size: int) -> tuple[float, int]:
    """Seconds from the moment every worker process is up (imported, connected) until
    the last one finds nothing due: process start-up is not renewal time."""
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    results: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    go = context.Event()
    processes = [
        context.Process(target=_worker, args=(url, batch_size, ready, go, results))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get()
    started = time.perf_counter()
    go.set()
    done = sum(results.get() for _ in processes)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    return elapsed, done


def run(report: Report, count: int, batch_size: int) -> None:
    url, admin = fresh_database("lifecycle")
    try:
        asyncio.run(seed(url, count))
        baseline_seconds = asyncio.run(baseline_update(url))
        baseline_rate = count / baseline_seconds
        asyncio.run(seed(url, count))
        one_seconds, one_done = run_workers(url, 1, batch_size)
        assert one_done == count, (one_done, count)
        one_rate = count / one_seconds
        report.add(Result(f"lifecycle: plain SQL UPDATE ({count} rows)", baseline_rate, "rows/s"))
        report.add(
            Result("lifecycle: scheduler, 1 worker", one_rate, "rows/s", baseline_rate, ">= 0.25")
        )
        asyncio.run(seed(url, count))
        two_seconds, two_done = run_workers(url, 2, batch_size)
        assert two_done == count, (two_done, count)
        report.add(
            Result("lifecycle: scheduler, 2 workers vs 1", count / two_seconds, "rows/s", one_rate)
        )
    finally:
        drop_database(url, admin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=Settings().scheduler_batch_size)
    args = parser.parse_args()
    report = Report()
    run(report, args.rows, args.batch)
    report.print_table()
    print(f"\nwritten to {report.write('lifecycle')}")


if __name__ == "__main__":
    main()
