"""The admin console, as the console issue asks:

- `metrics(from, to)` over GraphQL with N subscriptions and 5 invoices each vs the same
  figures from the same SQL run straight on asyncpg, in the same run (the GraphQL
  answer should take at most 1.5x as long: ratio >= 0.67);
- the console's first load: every byte the page fetches, raw and gzip-compressed
  (target: under 300 KB compressed).

`python -m bench.console [subscriptions]` (100,000 by default; `--full` in
`python -m bench` uses 1,000,000).
"""

from __future__ import annotations

import asyncio
import gzip
import statistics
import sys
import time
from datetime import timedelta

import asyncpg
import httpx

from bench.common import Report, Result, drop_database, fresh_database
from bench.http import seed_users, start_service, stop
from services.platform.auth import Role, mint_token
from services.platform.clock import SystemClock
from services.platform.config import Settings
from services.store.operations import fetch_metrics

PORT = 8189
ROUNDS = 3
METRICS = """query($f: DateTime!, $t: DateTime!) { metrics(from: $f, to: $t) {
  mrrCents newMrrCents expansionMrrCents contractionMrrCents churnedMrrCents
  subscriptionsByStatus { key count } activeSubscriptionsByPlan { key count }
  trialsEnded trialsConverted pastDueAmountCents series { at mrrCents activeSubscriptions } } }"""
CONSOLE_ASSETS = [
    "/console",
    "/static/app/app.css",
    "/static/app/gql.js",
    "/static/app/console.js",  # the plans, money, events and webhooks pages load on demand
]


async def by_hand(url: str, start, end) -> float:  # type: ignore[no-untyped-def]
    connection = await asyncpg.connect(url)
    try:
        timings = []
        for _ in range(ROUNDS):
            began = time.perf_counter()
            await fetch_metrics(connection, start, end, (end - start) / 29, 30, end)
            timings.append(time.perf_counter() - began)
        return statistics.median(timings)
    finally:
        await connection.close()


def over_graphql(token: str, start, end) -> float:  # type: ignore[no-untyped-def]
    timings = []
    with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=600) as client:
        for _ in range(ROUNDS):
            began = time.perf_counter()
            answer = client.post(
                "/graphql",
                json={
                    "query": METRICS,
                    "variables": {"f": start.isoformat(), "t": end.isoformat()},
                },
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            timings.append(time.perf_counter() - began)
            assert "errors" not in answer, answer
    return statistics.median(timings)


def first_load() -> tuple[int, int]:
    raw = compressed = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{PORT}") as client:
        for path in CONSOLE_ASSETS:
            body = client.get(path).content
            raw += len(body)
            compressed += len(gzip.compress(body))
    return raw, compressed


def run(report: Report, subscriptions: int = 100_000) -> None:
    url, admin = fresh_database("console")
    try:
        asyncio.run(seed_users(url, subscriptions, 5))
        now = SystemClock().now()
        start, end = now - timedelta(days=90), now
        token = mint_token(Settings(), "root", [Role.ADMIN], now, timedelta(hours=1))
        service = start_service(url, PORT, cache=False)
        try:
            sql = asyncio.run(by_hand(url, start, end))
            graphql = over_graphql(token, start, end)
            raw, compressed = first_load()
        finally:
            stop(service)
        label = f"{subscriptions:,} subscriptions"
        report.add(Result(f"console: metrics SQL by hand, {label}", 1 / sql, "runs/s"))
        report.add(
            Result(
                f"console: metrics(from, to) over GraphQL, {label}",
                1 / graphql,
                "runs/s",
                1 / sql,
                ">= 0.67",
                f"{graphql * 1000:.0f} ms vs {sql * 1000:.0f} ms",
            )
        )
        report.add(
            Result(
                "console: first load, gzip",
                compressed / 1024,
                "KB",
                None,
                "< 300",
                f"{raw / 1024:.1f} KB raw, {len(CONSOLE_ASSETS)} requests",
            )
        )
    finally:
        drop_database(url, admin)


if __name__ == "__main__":
    report = Report()
    run(report, int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
    report.print_table()
    print(f"\nwritten to {report.write('console')}")
