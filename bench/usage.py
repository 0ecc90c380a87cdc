"""consumeQuota over GraphQL vs a raw Starlette route doing one Redis INCRBY, as the
usage issue asks (target >= 0.4). Every request is a distinct event for one of 1,000
users, so nothing is a replay. `python -m bench.usage`."""

from __future__ import annotations

import sys
from datetime import timedelta

import httpx
import orjson
import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.common import Report, Result, drop_database, fresh_database
from bench.http import _serve, interleaved, stop
from services.platform.auth import Role, mint_token
from services.platform.clock import SystemClock
from services.platform.config import Settings

USERS = 1000
SETUP = [
    'mutation { createMeter(input: {key: "ai.calls", name: "AI calls", unit: "call", '
    'aggregation: COUNT, feature: "basic_content"}) { errors { code } } }',
    'mutation { setPlanQuota(input: {planCode: "free", meterKey: "ai.calls", '
    "includedUnits: 1000000000, hardLimit: true}) { errors { code } } }",
]


def consume_script(token: str) -> str:
    """A distinct event id per request (the thread's id, the start time, a counter), a
    rotating user. The JSON sits in Lua long brackets, so its escapes stay as written."""
    query = (
        "mutation($u: String!, $e: String!) { consumeQuota(input: "
        '{userId: $u, meterKey: \\"ai.calls\\", eventId: $e}) { allowed remaining } }'
    )
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local n = 0
request = function()
  n = n + 1
  local prefix = id .. "-" .. os.time()
  local body = [[{{"query": "{query}", "variables": {{"u": "user-]] .. (n % {USERS}) ..
    [[", "e": "]] .. prefix .. "-" .. n .. [["}}}}]]
  return wrk.format(nil, nil, nil, body)
end
"""


def incr_script() -> str:
    return f"""
wrk.method = "POST"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/incr?user=user-" .. (n % {USERS}))
end
"""


def baseline_app(redis_url: str) -> Starlette:
    redis = Redis.from_url(redis_url)

    async def incr(request: Request) -> Response:
        used = await redis.incrby(f"bench:usage:{request.query_params['user']}", 1)
        body = {"data": {"consumeQuota": {"allowed": True, "remaining": 1_000_000_000 - used}}}
        return Response(orjson.dumps(body), media_type="application/json")

    return Starlette(routes=[Route("/incr", incr, methods=["POST"])])


def run_baseline(port: int, redis_url: str) -> None:
    uvicorn.run(baseline_app(redis_url), port=port, log_level="warning", access_log=False)


def calls_per_batch(metrics: str) -> float:
    """The mean size of the service's group commits, from its /metrics."""
    found = dict(
        line.split()
        for line in metrics.splitlines()
        if line.startswith(("usage_group_commit_batches ", "usage_group_commit_calls "))
    )
    batches = float(found.get("usage_group_commit_batches", 0))
    return float(found.get("usage_group_commit_calls", 0)) / batches if batches else 0.0


def run(report: Report, seconds: int = 6) -> None:
    from tests.redis_server import RedisServer

    url, admin = fresh_database("usage")
    redis = RedisServer()
    redis.start()
    settings = Settings()
    now = SystemClock().now()
    admin_token = mint_token(settings, "root", [Role.ADMIN], now, timedelta(hours=1))
    service_token = mint_token(settings, "coach", [Role.SERVICE], now, timedelta(hours=1))
    try:
        service = _serve(
            ["main.py", "serve", "--port", "8186"],
            {"DATABASE_URL": url, "REDIS_URL": redis.url},
            8186,
        )
        base = _serve(
            ["-c", f"from bench.usage import run_baseline; run_baseline(8187, {redis.url!r})"],
            {},
            8187,
        )
        try:
            for query in SETUP:
                answer = httpx.post(
                    "http://127.0.0.1:8186/graphql",
                    json={"query": query},
                    headers={"Authorization": f"Bearer {admin_token}"},
                ).json()
                assert "errors" not in answer, answer
            raw, gql = interleaved(
                ("http://127.0.0.1:8187/incr", incr_script()),
                ("http://127.0.0.1:8186/graphql", consume_script(service_token)),
                seconds=seconds,
            )
            per_batch = calls_per_batch(httpx.get("http://127.0.0.1:8186/metrics").text)
        finally:
            stop(service)
            stop(base)
        report.add(
            Result(
                "usage: raw route, one Redis INCRBY",
                raw.rps,
                "req/s",
                notes=f"p99 {raw.p99_ms:.1f} ms",
            )
        )
        report.add(
            Result(
                "usage: consumeQuota over GraphQL",
                gql.rps,
                "req/s",
                raw.rps,
                ">= 0.4",
                f"p99 {gql.p99_ms:.1f} ms; Redis gate + PostgreSQL; {per_batch:.1f} calls "
                f"per group commit; errors {gql.errors}",
            )
        )
    finally:
        redis.stop()
        drop_database(url, admin)


if __name__ == "__main__":
    report = Report()
    run(report, int(sys.argv[1]) if len(sys.argv) > 1 else 6)
    report.print_table()
    print(f"\nwritten to {report.write('usage')}")
