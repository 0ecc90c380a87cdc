"""Websocket sessions end with their token, when the peer stops answering pings, and on
a message larger than an HTTP body: a real server with short keep-alive settings and a
raw websockets client on both protocols."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import websockets

from services.gateway.local import LocalGateway
from services.platform.auth import Role, mint_token
from services.platform.clock import FrozenClock, SystemClock
from services.platform.config import Settings
from tests.conftest import LiveServer

MODERN, LEGACY = "graphql-transport-ws", "graphql-ws"
OWN = "subscription { subscriptionStatusChanged { status } }"
FIREHOSE = "subscription { adminSubscriptionEvents { userId status } }"


@pytest.fixture(scope="module")
def brisk(settings: Settings, live_clock: FrozenClock, live_gateway: LocalGateway) -> Iterator[str]:
    """A server that pings every 0.4 s and waits 0.6 s for the pong."""
    brisk_settings = settings.model_copy(
        update={"websocket_keepalive_seconds": 0.4, "websocket_pong_timeout_seconds": 0.6}
    )
    server = LiveServer(brisk_settings, live_clock, live_gateway)
    server.start()
    yield server.url.replace("http://", "ws://") + "/graphql"
    server.stop()


def token(settings: Settings, user: str, seconds: int, *roles: Role) -> str:
    return mint_token(settings, user, list(roles), SystemClock().now(), timedelta(seconds=seconds))


async def open_session(url: str, protocol: str, bearer: str) -> Any:
    ws = await websockets.connect(url, subprotocols=[protocol])  # type: ignore[list-item]
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {bearer}"}})
    )
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    return ws


def subscribe(protocol: str, query: str) -> str:
    kind = "subscribe" if protocol == MODERN else "start"
    return json.dumps({"id": "1", "type": kind, "payload": {"query": query}})


async def close_code(ws: Any, within: float, answer_pings: bool = True) -> tuple[int, list[str]]:
    """Read until the server closes; answers pings unless told not to."""
    seen: list[str] = []
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), within))
            seen.append(message["type"])
            if message["type"] == "ping" and answer_pings:
                await ws.send(json.dumps({"type": "pong"}))
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code, seen


@pytest.mark.parametrize("protocol", [MODERN, LEGACY])
async def test_the_admin_firehose_closes_when_the_token_expires(api, settings, brisk, protocol):
    ws = await open_session(brisk, protocol, token(settings, "ops", 2, Role.ADMIN))
    await ws.send(subscribe(protocol, FIREHOSE))
    code, seen = await close_code(ws, within=5)
    assert code == 4403
    assert ws.close_reason == "token expired"
    if protocol == MODERN:
        assert "ping" in seen  # kept alive until the token ran out
    else:
        assert "ka" in seen


@pytest.mark.parametrize("protocol", [MODERN, LEGACY])
async def test_a_user_session_closes_when_its_token_expires(api, settings, brisk, protocol):
    ws = await open_session(brisk, protocol, token(settings, "una", 2))
    await ws.send(subscribe(protocol, OWN))
    assert (await close_code(ws, within=5))[0] == 4403


async def test_a_peer_that_answers_pings_stays_connected(api, settings, brisk):
    ws = await open_session(brisk, MODERN, token(settings, "pat", 3600))
    pings = 0
    for _ in range(5):
        message = json.loads(await asyncio.wait_for(ws.recv(), 2))
        assert message["type"] == "ping"
        pings += 1
        await ws.send(json.dumps({"type": "pong"}))
    assert pings == 5
    await ws.close()


async def test_a_peer_that_stops_answering_pings_is_closed(api, settings, brisk):
    ws = await open_session(brisk, MODERN, token(settings, "sid", 3600))
    code, seen = await close_code(ws, within=3, answer_pings=False)
    assert (code, seen) == (4408, ["ping"])


async def test_the_legacy_protocol_gets_keep_alive_messages(api, settings, brisk):
    ws = await open_session(brisk, LEGACY, token(settings, "kay", 3600))
    kinds = [json.loads(await asyncio.wait_for(ws.recv(), 2))["type"] for _ in range(3)]
    assert kinds == ["ka", "ka", "ka"]
    await ws.close()


@pytest.mark.parametrize("protocol", [MODERN, LEGACY])
async def test_a_message_larger_than_a_body_closes_the_connection_unprocessed(
    api, settings, brisk, protocol
):
    ws = await open_session(brisk, protocol, token(settings, "big", 3600))
    padding = "x" * (settings.max_body_bytes + 1)
    await ws.send(
        subscribe(protocol, f"subscription {{ subscriptionStatusChanged {{ status }} }} #{padding}")
    )
    code, seen = await close_code(ws, within=5)
    assert code == 4413
    assert not {"next", "data", "error"} & set(seen)


@pytest.mark.parametrize("protocol", [MODERN, LEGACY])
async def test_a_document_over_the_token_limit_gets_an_error_and_the_connection_stays(
    api, settings, brisk, protocol
):
    ws = await open_session(brisk, protocol, token(settings, "tok", 3600))
    fields = " ".join(f"a{n}: subscriptionStatusChanged {{ status }}" for n in range(500))
    await ws.send(subscribe(protocol, f"subscription {{ {fields} }}"))
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        if message["type"] == "error":
            break
    payload = message["payload"]
    errors = payload if isinstance(payload, list) else [payload]
    assert "more than" in errors[0]["message"] and "tokens" in errors[0]["message"]
    # still open: keep-alives go on arriving
    kinds = []
    for _ in range(3):
        kinds.append(json.loads(await asyncio.wait_for(ws.recv(), 2))["type"])
        if kinds[-1] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
    assert set(kinds) <= {"ping", "ka"} and kinds
    await ws.close()
