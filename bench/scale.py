"""R8: the hot reads with 1,000,000 subscriptions and 5,000,000 invoices vs the same with
1,000, on the same machine in the same run. The plans must stay index scans."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg

from bench.common import Report, Result, drop_database, fresh_database
from bench.http import MY_SUBSCRIPTION, graphql_body, rotating, seed_users, start_service, stop, wrk
from services.platform.auth import mint_token
from services.platform.clock import SystemClock
from services.platform.config import Settings
from services.store.reads import FIRST_INVOICES_SQL, LATEST_SQL, LINES_SQL

INVOICES = "{ invoices(first: 10) { nodes { number status totalCents } pageInfo { hasNextPage endCursor } } }"


async def plans(url: str) -> str:
    """EXPLAIN of the statements the service runs for these reads, for one user."""
    connection = await asyncpg.connect(url)
    try:
        invoice_ids = [r["id"] for r in await connection.fetch(FIRST_INVOICES_SQL, "user-7", 11)]
        out = []
        for sql, args in (
            (LATEST_SQL, ("user-7",)),
            (FIRST_INVOICES_SQL, ("user-7", 11)),
            (LINES_SQL, (invoice_ids,)),
        ):
            out.append("\n".join(r[0] for r in await connection.fetch(f"EXPLAIN {sql}", *args)))
        return "\n\n".join(out)
    finally:
        await connection.close()


def measure(users: int, invoices_per_user: int, seconds: int) -> tuple[float, float, str]:
    url, admin = fresh_database(f"scale{users}")
    try:
        asyncio.run(seed_users(url, users, invoices_per_user))
        settings = Settings()
        now = SystemClock().now()
        step = max(users // 500, 1)
        tokens = [
            mint_token(settings, f"user-{n}", [], now, timedelta(hours=2))
            for n in range(1, users + 1, step)
        ][:500]
        service = start_service(url, 8186, cache=False)
        try:
            sub = wrk(
                "http://127.0.0.1:8186/graphql",
                rotating(tokens, "POST", graphql_body(MY_SUBSCRIPTION)),
                seconds,
            )
            inv = wrk(
                "http://127.0.0.1:8186/graphql",
                rotating(tokens, "POST", graphql_body(INVOICES)),
                seconds,
            )
        finally:
            stop(service)
        return sub.rps, inv.rps, asyncio.run(plans(url))
    finally:
        drop_database(url, admin)


def run(
    report: Report, big_users: int = 1_000_000, invoices_per_user: int = 5, seconds: int = 8
) -> str:
    small_sub, small_inv, _ = measure(1000, invoices_per_user, seconds)
    big_sub, big_inv, explain = measure(big_users, invoices_per_user, seconds)
    label = f"{big_users:,} subs / {big_users * invoices_per_user:,} invoices"
    report.add(Result("R8 mySubscription, 1,000 subscriptions", small_sub, "req/s"))
    report.add(
        Result(
            f"R8 mySubscription, {label} (small/large)",
            small_sub / big_sub,
            "x",
            None,
            "<= 1.2",
            f"{big_sub:.0f} req/s",
        )
    )
    report.add(Result("R8 invoices first page, 1,000 subscriptions", small_inv, "req/s"))
    report.add(
        Result(
            f"R8 invoices first page, {label} (small/large)",
            small_inv / big_inv,
            "x",
            None,
            "<= 1.2",
            f"{big_inv:.0f} req/s",
        )
    )
    print("\nquery plans at scale:\n" + explain)
    return explain


if __name__ == "__main__":
    import sys

    report = Report()
    run(report, int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
    report.print_table()
    print(f"\nwritten to {report.write('scale')}")
