"""Every benchmark, one table: `python -m bench` (add `--full` for the sizes the issues
name: 100,000 due subscriptions and 1,000,000 subscriptions / 5,000,000 invoices).

Each figure is a ratio against a baseline measured in the same run on the same data;
the table is printed and written as JSON under bench/results/. Needs the machine's
PostgreSQL (BENCH_DATABASE_URL to point elsewhere), redis-server, and wrk (installed
from Debian's packages when missing and running as root).
"""

from __future__ import annotations

import argparse
import time

from bench import (
    coldstart,
    console,
    events,
    fanout,
    http,
    lifecycle,
    scale,
    usage,
    usage_batches,
    webhooks,
)
from bench.common import Report
from services.platform.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="the issues' full sizes (slower)")
    parser.add_argument(
        "--only",
        nargs="*",
        help="http scale lifecycle events fanout coldstart usage console webhooks",
    )
    args = parser.parse_args()
    wanted = set(
        args.only
        or [
            "http",
            "scale",
            "lifecycle",
            "events",
            "fanout",
            "coldstart",
            "usage",
            "console",
            "webhooks",
        ]
    )
    http.require_wrk()
    report = Report()
    started = time.perf_counter()
    if "http" in wanted:
        print("== R1 / R2: GraphQL and REST hot paths vs a raw asyncpg route", flush=True)
        http.run(report)
    if "scale" in wanted:
        print("== R8: hot reads at scale", flush=True)
        scale.run(report, 1_000_000 if args.full else 100_000)
    if "lifecycle" in wanted:
        print("== lifecycle scheduler vs a plain SQL UPDATE", flush=True)
        lifecycle.run(
            report, 100_000 if args.full else 20_000, Settings().scheduler_batch_size
        )  # as deployed
    if "events" in wanted:
        print("== outbox relay and consumer vs bare aiokafka", flush=True)
        events.run(report, 20_000, Settings().outbox_batch_size)  # the relay as deployed
    if "usage" in wanted:
        print("== usage: consumeQuota vs a raw Redis INCRBY route", flush=True)
        usage.run(report)
        print("== usage: batched recording and the usage consumer", flush=True)
        usage_batches.run(report, 20_000)
    if "console" in wanted:
        print("== console: metrics over GraphQL vs its SQL by hand; first load", flush=True)
        console.run(report, 1_000_000 if args.full else 100_000)
    if "webhooks" in wanted:
        print("== webhooks: signed, recorded deliveries vs plain httpx POSTs", flush=True)
        webhooks.run(report)
    if "fanout" in wanted:
        print("== websocket fan-out vs a bare Starlette broadcast", flush=True)
        fanout.run(report, (1000, 5000))
    if "coldstart" in wanted:
        print("== cold start on the embedded default", flush=True)
        coldstart.run(report)
    report.print_table()
    print(f"\nwritten to {report.write('all')} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
