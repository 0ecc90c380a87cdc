"""HTTP hot paths under wrk (-c32): the service against the raw baseline, same data.

R1: mySubscription through /graphql vs the raw route (requests/s and p99).
R2: entitlement lookups (myEntitlements, entitlements(userId), the REST status route),
    uncached, through Redis and in-process, vs the raw route.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx

from bench.common import Report, Result, drop_database, fresh_database
from services.platform.auth import Role, mint_token
from services.platform.clock import SystemClock
from services.platform.config import Settings
from services.pricing.seed import seed_plans
from services.store.db import make_engine, make_session_factory

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 32
CACHES = (("uncached", 8182), ("Redis cache", 8183), ("in-process cache", 8184))
MY_SUBSCRIPTION = (
    "{ mySubscription { id status currentPeriodEnd cancelAtPeriodEnd "
    "plan { code name priceCents currency } entitlements { tier features } } }"
)


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk from Debian's packages ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("benchmarks need wrk: apt-get install wrk")
    return found


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, script: str, seconds: int = 8, connections: int = CONNECTIONS) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    out = subprocess.run(
        [
            require_wrk(),
            f"-c{connections}",
            "-t2",
            f"-d{seconds}s",
            "--latency",
            "-s",
            lua.name,
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    os.unlink(lua.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    return Load(rps, p50, p99, errors)


def interleaved(*sides: tuple[str, str], seconds: int, rounds: int = 3) -> list[Load]:
    """Every side warmed up, then measured turn about `rounds` times; the medians. One
    run against another is too noisy on a shared 2-core machine."""
    for url, script in sides:
        wrk(url, script, 2)
    runs: list[list[Load]] = [[] for _ in sides]
    for _ in range(rounds):
        for side, (url, script) in zip(runs, sides, strict=True):
            side.append(wrk(url, script, seconds))
    return [_medians(side) for side in runs]


def _medians(loads: list[Load]) -> Load:
    return Load(
        statistics.median(load.rps for load in loads),
        statistics.median(load.p50_ms for load in loads),
        statistics.median(load.p99_ms for load in loads),
        sum(load.errors for load in loads),
    )


def rotating(
    tokens: list[str], method: str = "GET", body: str | None = None, paths: list[str] | None = None
) -> str:
    """A wrk script that sends each request as the next user (and path)."""
    lua_tokens = ",".join(f'"{t}"' for t in tokens)
    lua_paths = ",".join(f'"{p}"' for p in paths) if paths else ""
    body_line = (
        f"wrk.body = [[{body}]]\nwrk.headers['Content-Type'] = 'application/json'\n" if body else ""
    )
    return f"""
wrk.method = "{method}"
{body_line}local tokens = {{{lua_tokens}}}
local paths = {{{lua_paths}}}
local i = 0
request = function()
  i = i % #tokens + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[i]
  local path = wrk.path
  if #paths > 0 then path = paths[(i - 1) % #paths + 1] end
  return wrk.format(nil, path)
end
"""


async def seed_users(url: str, users: int, invoices_per_user: int = 0) -> None:
    engine = make_engine(url, pool_size=1)
    async with make_session_factory(engine)() as session:
        await seed_plans(session, SystemClock().now() - timedelta(days=400))
    await engine.dispose()
    connection = await asyncpg.connect(url)
    try:
        plan_id = await connection.fetchval("SELECT id FROM plans WHERE code = 'premium'")
        now = SystemClock().now()
        await connection.execute(
            """
            INSERT INTO subscriptions (id, user_id, plan_id, status, payment_confirmation, is_current,
                billing_cycle_anchor, current_period_start, current_period_end, cancel_at_period_end,
                status_updated_at, price_paid_cents, currency, payment_processor, retry_count,
                is_active, created_at, updated_at)
            SELECT gen_random_uuid(), 'user-' || n, $2, 'ACTIVE', 'PAID', true, $3, $3, $4, false,
                $3, 999, 'USD', 'local', 0, true, $3, $3
            FROM generate_series(1, $1) n
            """,
            users,
            plan_id,
            now - timedelta(days=10),
            now + timedelta(days=20),
        )
        if invoices_per_user:
            await connection.execute(
                """
                INSERT INTO invoices (id, number, user_id, subscription_id, status, currency,
                    total_cents, amount_paid_cents, period_start, period_end, paid_at, created_at)
                SELECT gen_random_uuid(), 'INV-' || lpad((row_number() OVER ())::text, 10, '0'),
                    s.user_id, s.id, 'PAID', 'USD', 999, 999, s.created_at - (k || ' months')::interval,
                    s.created_at - ((k - 1) || ' months')::interval, s.created_at,
                    s.created_at - (k || ' months')::interval
                FROM subscriptions s CROSS JOIN generate_series(1, $1) k
                """,
                invoices_per_user,
            )
            await connection.execute(
                """
                INSERT INTO invoice_lines (id, invoice_id, position, kind, description,
                    amount_cents, plan_code, period_start, period_end)
                SELECT gen_random_uuid(), i.id, 0, 'SUBSCRIPTION', 'Premium', 999, 'premium',
                    i.period_start, i.period_end
                FROM invoices i
                """
            )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


def _serve(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{args} did not start")


def start_service(
    url: str, port: int, redis_url: str | None = None, *, cache: bool = True
) -> subprocess.Popen[bytes]:
    env = {"DATABASE_URL": url, "ENVIRONMENT": "development", "ACCESS_CACHE": str(cache).lower()}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return _serve(["main.py", "serve", "--port", str(port)], env, port)


def start_baseline(url: str, port: int) -> subprocess.Popen[bytes]:
    return _serve(["-m", "bench.baseline", "--port", str(port), "--database-url", url], {}, port)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=20)


def graphql_body(query: str) -> str:
    return json.dumps({"query": query})


def register_persisted(url: str, query: str) -> str:
    """Send the document once with its APQ hash; returns the hash-only request body."""
    extensions = {
        "persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}
    }
    httpx.post(url, json={"query": query, "extensions": extensions}).raise_for_status()
    return json.dumps({"extensions": extensions})


def run(report: Report, users: int = 1000, seconds: int = 8) -> None:
    from tests.redis_server import RedisServer

    url, admin = fresh_database("http")
    redis = RedisServer()
    redis.start()
    settings = Settings()
    now = SystemClock().now()
    user_ids = [f"user-{n}" for n in range(1, min(users, 500) + 1)]
    tokens = [mint_token(settings, u, [], now, timedelta(hours=2)) for u in user_ids]
    service_token = mint_token(settings, "playback", [Role.SERVICE], now, timedelta(hours=2))
    try:
        asyncio.run(seed_users(url, users))
        base = start_baseline(url, 8181)
        plain = start_service(url, 8182, cache=False)
        cached = start_service(url, 8183, redis.url)
        local = start_service(url, 8184)
        try:
            persisted = register_persisted("http://127.0.0.1:8182/graphql", MY_SUBSCRIPTION)
            raw_sub, gql_sub, apq_sub = interleaved(
                ("http://127.0.0.1:8181/raw/subscription", rotating(tokens)),
                (
                    "http://127.0.0.1:8182/graphql",
                    rotating(tokens, "POST", graphql_body(MY_SUBSCRIPTION)),
                ),
                ("http://127.0.0.1:8182/graphql", rotating(tokens, "POST", persisted)),
                seconds=6,
            )
            report.add(
                Result(
                    "R1 raw route: mySubscription",
                    raw_sub.rps,
                    "req/s",
                    notes=f"p99 {raw_sub.p99_ms:.1f} ms",
                )
            )
            report.add(
                Result(
                    "R1 GraphQL mySubscription",
                    gql_sub.rps,
                    "req/s",
                    raw_sub.rps,
                    ">= 0.5 (aim 0.7)",
                    f"p99 {gql_sub.p99_ms:.1f} ms",
                )
            )
            report.add(
                Result(
                    "R1 p99 latency, GraphQL / raw",
                    gql_sub.p99_ms,
                    "ms",
                    raw_sub.p99_ms,
                    "<= 2 (latency ratio)",
                )
            )
            report.add(
                Result(
                    "R1 GraphQL mySubscription, persisted query",
                    apq_sub.rps,
                    "req/s",
                    raw_sub.rps,
                    ">= 0.5",
                    f"p99 {apq_sub.p99_ms:.1f} ms",
                )
            )

            raw_ent = wrk("http://127.0.0.1:8181/raw/entitlements", rotating(tokens), seconds)
            report.add(
                Result(
                    "R2 raw route: entitlements",
                    raw_ent.rps,
                    "req/s",
                    notes=f"p99 {raw_ent.p99_ms:.1f} ms",
                )
            )
            my_ent = graphql_body("{ myEntitlements { userId tier features } }")
            for label, port in CACHES:
                load = wrk(
                    f"http://127.0.0.1:{port}/graphql", rotating(tokens, "POST", my_ent), seconds
                )
                report.add(
                    Result(
                        f"R2 GraphQL myEntitlements, {label}",
                        load.rps,
                        "req/s",
                        raw_ent.rps,
                        ">= 0.5 cached",
                        f"p99 {load.p99_ms:.1f} ms",
                    )
                )
            paths = [f"/api/v1/subscriptions/status/{u}" for u in user_ids]
            for label, port in CACHES:
                load = wrk(
                    f"http://127.0.0.1:{port}/api/v1/subscriptions/status/user-1",
                    rotating([service_token], paths=paths),
                    seconds,
                )
                report.add(
                    Result(
                        f"R2 REST status route, {label}",
                        load.rps,
                        "req/s",
                        raw_ent.rps,
                        ">= 0.5 cached",
                        f"p99 {load.p99_ms:.1f} ms",
                    )
                )
            lookup = graphql_body('{ entitlements(userId: "user-1") { tier features } }')
            load = wrk(
                "http://127.0.0.1:8183/graphql",
                rotating([service_token], "POST", lookup),
                seconds,
            )
            report.add(
                Result(
                    "R2 GraphQL entitlements(userId), Redis cache",
                    load.rps,
                    "req/s",
                    raw_ent.rps,
                    ">= 0.5",
                    f"p99 {load.p99_ms:.1f} ms",
                )
            )
        finally:
            for process in (base, plain, cached, local):
                stop(process)
    finally:
        redis.stop()
        drop_database(url, admin)


if __name__ == "__main__":
    report = Report()
    run(report)
    report.print_table()
    print(f"\nwritten to {report.write('http')}")
