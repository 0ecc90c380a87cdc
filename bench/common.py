"""Shared benchmark plumbing: a fresh database per run, timing, and the results table.

Every figure is reported as a ratio against a baseline measured in the same run, on the
same database and data. Results are printed and written as JSON under bench/results/.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.app import migrate

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Result:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str | None = None
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    def add(self, result: Result) -> None:
        self.results.append(result)
        ratio = f"{result.ratio:.3f}" if result.ratio is not None else "-"
        print(
            f"  {result.name:<48} {result.value:>12.1f} {result.unit:<8} ratio {ratio}", flush=True
        )

    def print_table(self) -> None:
        print(f"\n{'measure':<48} {'value':>12} {'unit':<8} {'baseline':>10} {'ratio':>7}  target")
        for r in self.results:
            baseline = f"{r.baseline:.1f}" if r.baseline is not None else "-"
            ratio = f"{r.ratio:.3f}" if r.ratio is not None else "-"
            print(
                f"{r.name:<48} {r.value:>12.1f} {r.unit:<8} {baseline:>10} {ratio:>7}  "
                f"{r.target or '':<22} {r.notes}".rstrip()
            )

    def write(self, label: str) -> Path:
        RESULTS_DIR.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS_DIR / f"{label}-{stamp}.json"
        payload: dict[str, Any] = {
            "when": stamp,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "results": [{**asdict(r), "ratio": r.ratio} for r in self.results],
        }
        path.write_text(json.dumps(payload, indent=2))
        return path


@contextmanager
def timed() -> Iterator[list[float]]:
    holder: list[float] = []
    started = time.perf_counter()
    yield holder
    holder.append(time.perf_counter() - started)


def _on_server(admin: str, sql: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


def fresh_database(label: str) -> tuple[str, str]:
    """Create and migrate a new database; returns (its URL, the server's admin URL)."""
    admin = os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER)
    name = f"subsvc_bench_{label}_{uuid.uuid4().hex[:6]}"
    _on_server(admin, f'CREATE DATABASE "{name}"')
    url = f"{admin.rsplit('/', 1)[0]}/{name}"
    migrate.upgrade(url)
    return url, admin


def audit(url: str) -> list[str]:
    """The money audit (`main.py audit`) over a suite's database: what it left must
    hold every invariant, whatever the benchmark did to it."""
    from services.reads.audit import audit_database

    return asyncio.run(audit_database(url))


def drop_database(url: str, admin: str) -> None:
    broken = audit(url)
    name = url.rsplit("/", 1)[1]
    print(f"   money audit of {name}: " + ("every invariant holds" if not broken else "BROKEN"))
    for line in broken:
        print(f"     {line}")
    _on_server(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
