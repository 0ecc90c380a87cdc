"""Memory a hostile client can make the service hold: `python -m bench.hostile_memory`.

Starts the service on a fresh database and reports the server's resident memory
before and after (1) 40 distinct 2 MB documents sent over one websocket, and (2) 5,500
distinct 60 KB comment-padded documents POSTed without a token, twice (the second round
tells a high-water mark from growth). Run it from another
checkout to measure that code (it serves the checkout it runs in)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import httpx
import psutil
import websockets

from bench.common import drop_database, fresh_database
from bench.http import _serve, stop
from services.platform.auth import mint_token
from services.platform.clock import SystemClock
from services.platform.config import Settings

PORT = 8195


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 1024 / 1024


async def websocket_documents(token: str, count: int = 40, size: int = 2 * 1024 * 1024) -> str:
    closes = []
    for n in range(count):
        try:
            async with websockets.connect(
                f"ws://127.0.0.1:{PORT}/graphql",
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                max_size=None,
            ) as ws:
                init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                await ws.send(json.dumps(init))
                await ws.recv()
                padding = f"#{n}" + "x" * size
                query = f"subscription {{ subscriptionStatusChanged {{ status }} }} {padding}"
                await ws.send(
                    json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}})
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 2)
        except websockets.ConnectionClosed as closed:
            closes.append(closed.rcvd.code if closed.rcvd else -1)
    return f"closed by the server: {len(closes)} of {count} ({sorted(set(closes))})"


async def padded_documents(count: int = 5500, size: int = 60 * 1024) -> str:
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", timeout=30) as client:
        for start in range(0, count, 50):
            batch = [
                client.post("/graphql", json={"query": f"{{ plans {{ code }} }} #{n}" + "x" * size})
                for n in range(start, min(start + 50, count))
            ]
            for response in await asyncio.gather(*batch):
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return f"statuses {statuses}"


def main() -> None:
    url, admin = fresh_database("memory")
    service = _serve(["main.py", "serve", "--port", str(PORT)], {"DATABASE_URL": url}, PORT)
    try:
        token = mint_token(Settings(), "hostile", [], SystemClock().now())
        time.sleep(2)
        base = rss_mb(service.pid)
        print(f"resident at start: {base:.0f} MB")
        outcome = asyncio.run(websocket_documents(token))
        time.sleep(2)
        after_ws = rss_mb(service.pid)
        print(
            f"(1) 40 x 2 MB websocket documents: {after_ws:.0f} MB ({after_ws - base:+.0f}); {outcome}"
        )
        before = after_ws
        for round_ in (1, 2):  # a second round tells a high-water mark from a leak
            outcome = asyncio.run(padded_documents())
            time.sleep(2)
            after_http = rss_mb(service.pid)
            print(
                f"(2) 5,500 x 60 KB padded documents, round {round_}: {after_http:.0f} MB "
                f"({after_http - before:+.0f}); {outcome}"
            )
            before = after_http
    finally:
        stop(service)
        drop_database(url, admin)


if __name__ == "__main__":
    main()
