"""Live fan-out: N websocket subscribers on one API process, one status change each.

The service: N graphql-transport-ws clients subscribed to `subscriptionStatusChanged`;
N status-change events are published on the Redis channel the relay uses, and each
client receives its own. Baseline: a bare Starlette websocket endpoint sending the same
payloads to N plain websocket clients. Delivery time is from the publish to each
client's receipt; memory per connection is the server's RSS growth over N.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psutil
import uvicorn
import websockets
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.common import Report, Result, drop_database, fresh_database
from bench.http import _serve, seed_users, stop
from services.messaging.live import RedisFeed, live_channel
from services.messaging.publisher import OutboundMessage
from services.platform.auth import mint_token
from services.platform.clock import SystemClock
from services.platform.config import Settings
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
QUERY = "subscription { subscriptionStatusChanged { userId status reason occurredAt } }"
NAMESPACE = "bench-fanout"  # the service and the publisher below share this channel


def envelope(user: str) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "source": "urn:bench",
        "type": "subscription.status_changed",
        "specversion": "1.0",
        "time": datetime.now(UTC).isoformat(),
        "subject": user,
        "datacontenttype": "application/json",
        "dataversion": "1",
        "data": {
            "subscriptionId": str(uuid.uuid4()),
            "userId": user,
            "planCode": "premium",
            "status": "ACTIVE",
            "from": "TRIALING",
            "to": "ACTIVE",
            "reason": "trial_converted",
            "actor": "system:scheduler",
            "tier": "premium",
            "entitlements": ["ad_free"],
            "currentPeriodStart": None,
            "currentPeriodEnd": None,
            "cancelAtPeriodEnd": False,
        },
    }


# --- the baseline: a bare Starlette websocket broadcast ---------------------------------


def baseline_app() -> Starlette:
    sockets: dict[str, WebSocket] = {}

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        user = ws.query_params["user"]
        sockets[user] = ws
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            sockets.pop(user, None)

    async def send_all(request: Request) -> Response:
        for user, ws in list(sockets.items()):
            await ws.send_text(orjson.dumps(envelope(user)).decode())
        return Response("ok")

    return Starlette(
        routes=[WebSocketRoute("/ws", endpoint), Route("/send", send_all, methods=["POST"])]
    )


def run_baseline(port: int) -> None:
    uvicorn.run(
        baseline_app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_per_message_deflate=False,
    )


# --- clients ------------------------------------------------------------------------------


async def graphql_client(
    url: str,
    token: str,
    ready: asyncio.Event,
    received: list[float],
    counter: list[int],
    total: int,
) -> None:
    async with websockets.connect(
        url, subprotocols=["graphql-transport-ws"], max_queue=4, open_timeout=60
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        await ws.recv()
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}))
        counter[0] += 1
        if counter[0] == total:
            ready.set()
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") == "next":
                received.append(time.perf_counter())
                return
            if message.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))


async def plain_client(
    url: str, ready: asyncio.Event, received: list[float], counter: list[int], total: int
) -> None:
    async with websockets.connect(url, max_queue=4, open_timeout=60) as ws:
        counter[0] += 1
        if counter[0] == total:
            ready.set()
        await ws.recv()
        received.append(time.perf_counter())


def _percentiles(started: float, received: list[float]) -> tuple[float, float]:
    delays = sorted((t - started) * 1000 for t in received)
    return statistics.median(delays), delays[int(len(delays) * 0.99) - 1]


async def measure_service(
    port: int, redis_url: str, tokens: list[str], users: list[str], pid: int
) -> tuple[float, float, float]:
    url = f"ws://127.0.0.1:{port}/graphql"
    ready, received, counter = asyncio.Event(), [], [0]
    rss_before = psutil.Process(pid).memory_info().rss
    tasks = []
    for batch in range(0, len(tokens), 200):  # connect in waves: the server has one core
        tasks += [
            asyncio.create_task(graphql_client(url, t, ready, received, counter, len(tokens)))
            for t in tokens[batch : batch + 200]
        ]
        while counter[0] < min(batch + 200, len(tokens)):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await asyncio.wait_for(ready.wait(), 120)
    await asyncio.sleep(1.0)
    rss_after = psutil.Process(pid).memory_info().rss
    redis = Redis.from_url(redis_url)
    # As the relay hands them over: one publish per relay batch.
    messages = [OutboundMessage.of("subscription.status_changed", u, envelope(u)) for u in users]
    feed = RedisFeed(redis, live_channel(NAMESPACE))
    size = Settings().outbox_batch_size
    started = time.perf_counter()
    for start in range(0, len(messages), size):
        await feed.publish(messages[start : start + size])
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    await redis.aclose()
    p50, p99 = _percentiles(started, received)
    return p50, p99, (rss_after - rss_before) / len(tokens) / 1024


async def measure_baseline(port: int, users: list[str]) -> tuple[float, float]:
    import httpx

    ready, received, counter = asyncio.Event(), [], [0]
    tasks = []
    for batch in range(0, len(users), 200):
        tasks += [
            asyncio.create_task(
                plain_client(
                    f"ws://127.0.0.1:{port}/ws?user={u}", ready, received, counter, len(users)
                )
            )
            for u in users[batch : batch + 200]
        ]
        while counter[0] < min(batch + 200, len(users)):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await asyncio.wait_for(ready.wait(), 120)
    await asyncio.sleep(1.0)
    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        await client.post(f"http://127.0.0.1:{port}/send", timeout=120)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return _percentiles(started, received)


def run(report: Report, sizes: tuple[int, ...] = (1000, 5000), rounds: int = 3) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    url, admin = fresh_database("fanout")
    redis = RedisServer()
    redis.start()
    settings = Settings()
    try:
        asyncio.run(seed_users(url, 10))
        for count in sizes:
            users = [f"fan-{n}" for n in range(count)]
            now = SystemClock().now()
            tokens = [mint_token(settings, u, [], now, timedelta(hours=1)) for u in users]
            env = {
                "DATABASE_URL": url,
                "REDIS_URL": redis.url,
                "REDIS_NAMESPACE": NAMESPACE,
                # thousands of clients from one address: measure fan-out, not the limiter
                "RATE_LIMIT_WEBSOCKET_CONNECTS": "1000000/minute",
                "WEBSOCKET_MAX_SUBSCRIPTIONS": "10",
            }
            # Turn about, medians: one run of each side is too noisy on a shared machine.
            ours: list[tuple[float, float, float]] = []
            bare: list[tuple[float, float]] = []
            for _ in range(rounds):
                service = _serve(["main.py", "serve", "--port", "8191"], env, 8191)
                try:
                    ours.append(
                        asyncio.run(measure_service(8191, redis.url, tokens, users, service.pid))
                    )
                finally:
                    stop(service)
                base = _serve(
                    ["-c", "from bench.fanout import run_baseline; run_baseline(8192)"], {}, 8192
                )
                try:
                    bare.append(asyncio.run(measure_baseline(8192, users)))
                finally:
                    stop(base)
            p50, p99, per_connection = (statistics.median(m[i] for m in ours) for i in range(3))
            b50, b99 = (statistics.median(m[i] for m in bare) for i in range(2))
            spread = ", ".join(f"{o[0] / b[0]:.2f}" for o, b in zip(ours, bare, strict=True))
            report.add(
                Result(
                    f"fan-out {count}: bare websocket broadcast p50",
                    b50,
                    "ms",
                    notes=f"p99 {b99:.1f} ms",
                )
            )
            report.add(
                Result(
                    f"fan-out {count}: GraphQL subscription p50",
                    p50,
                    "ms",
                    b50,
                    "<= 3x",
                    f"per round: {spread}",
                )
            )
            report.add(
                Result(f"fan-out {count}: GraphQL subscription p99", p99, "ms", b99, "<= 3x")
            )
            report.add(
                Result(
                    f"fan-out {count}: memory per connection",
                    per_connection,
                    "KiB",
                    None,
                    "< 50 KB",
                )
            )
    finally:
        redis.stop()
        drop_database(url, admin)


if __name__ == "__main__":
    sizes = tuple(int(n) for n in sys.argv[1:]) or (1000, 5000)
    report = Report()
    run(report, sizes)
    report.print_table()
    print(f"\nwritten to {report.write('fanout')}")
