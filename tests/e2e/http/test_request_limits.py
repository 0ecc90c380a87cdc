"""Limits on the HTTP server itself, over real sockets: header size and count, and the
time a client may take to send a body."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx
import pytest

from services.gateway.local import LocalGateway
from services.platform.clock import FrozenClock
from services.platform.config import Settings
from tests.conftest import LiveServer


@pytest.fixture(scope="module")
def strict(
    settings: Settings, live_clock: FrozenClock, live_gateway: LocalGateway
) -> Iterator[LiveServer]:
    server = LiveServer(
        settings.model_copy(update={"body_timeout_seconds": 1.0}), live_clock, live_gateway
    )
    server.start()
    yield server
    server.stop()


async def test_oversized_or_too_many_headers_get_431(api, strict):
    async with httpx.AsyncClient(base_url=strict.url) as client:
        big = await client.get("/health", headers={"X-Padding": "x" * (64 * 1024)})
        many = await client.get("/health", headers=[(f"X-H{n}", "1") for n in range(150)])
        fine = await client.get("/health", headers=[(f"X-H{n}", "1") for n in range(20)])
    assert big.status_code == 431 and many.status_code == 431
    assert big.json()["errors"][0]["code"] == "REQUEST_HEADERS_TOO_LARGE"
    assert fine.status_code == 200


async def test_a_body_trickled_too_slowly_gets_408_and_frees_the_connection(api, strict):
    async def trickle() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", strict.port)
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        await writer.drain()
        answer = asyncio.create_task(reader.read(4096))  # read as soon as anything comes
        for _ in range(40):  # one byte now and then, never the whole body
            done, _ = await asyncio.wait({answer}, timeout=0.25)
            if done:
                break
            with contextlib.suppress(ConnectionError):
                writer.write(b" ")
                await writer.drain()
        received = await asyncio.wait_for(answer, 5)
        writer.close()
        return received

    answers = await asyncio.gather(*(trickle() for _ in range(20)))
    # The client never sends the whole body: only the server's deadline ends these.
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
