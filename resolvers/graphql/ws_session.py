"""Websocket sessions that end when they should: with their token, when the peer stops
answering, or when a message is larger than an HTTP body may be.

Strawberry's handlers run the two protocols; these subclasses register each
acknowledged connection with the process's `SessionGuards` (one loop for all of them).
On `graphql-transport-ws` the guard sends protocol `ping`s
every `keepalive` seconds and closes a connection that sends no `pong` within
`pong_timeout`; the legacy `graphql-ws` protocol has no pong (the server sends `ka`).
On both, the connection is closed with 4403 when the token's `exp` passes, so a revoked
admin stops reading the firehose when their token runs out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping

import orjson
from graphql import GraphQLError, GraphQLSyntaxError
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    PongMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyInitMessage,
)

from schema.context import Context

TOKEN_EXPIRED = 4403
PEER_SILENT = 4408
MESSAGE_TOO_LARGE = 4413


class SessionGuard:
    """One connection's deadlines: its token's expiry and, on graphql-transport-ws, the
    next ping and the pong it waits for. Small on purpose: a process holds thousands."""

    __slots__ = ("awaiting_pong_since", "close", "expires_at", "next_ping", "ping")

    def __init__(
        self,
        close: Callable[[int, str], Awaitable[None]],
        expires_at: float | None,
        ping: Callable[[], Awaitable[None]] | None,
        next_ping: float,
    ) -> None:
        self.close = close
        self.expires_at = expires_at
        self.ping = ping
        self.next_ping = next_ping
        self.awaiting_pong_since: float | None = None

    def pong(self) -> None:
        self.awaiting_pong_since = None


class SessionGuards:
    """Every guarded connection of this process, checked by one loop (a task per
    connection would cost kilobytes each): expired tokens close with 4403, unanswered
    pings with 4408, pings go out every `keepalive` seconds."""

    def __init__(self, keepalive: float, pong_timeout: float, tick: float = 1.0) -> None:
        self.keepalive = keepalive
        self.pong_timeout = pong_timeout
        self.tick = min(tick, keepalive, pong_timeout)
        self._guards: set[SessionGuard] = set()
        self._loop: asyncio.Task[None] | None = None

    def watch(
        self,
        close: Callable[[int, str], Awaitable[None]],
        expires_at: float | None,
        ping: Callable[[], Awaitable[None]] | None,
    ) -> SessionGuard:
        guard = SessionGuard(close, expires_at, ping, time.monotonic() + self.keepalive)
        self._guards.add(guard)
        if self._loop is None or self._loop.done():
            self._loop = asyncio.get_running_loop().create_task(self._run())
        return guard

    def forget(self, guard: SessionGuard | None) -> None:
        if guard is not None:
            self._guards.discard(guard)

    async def _run(self) -> None:
        while self._guards:
            await asyncio.sleep(self.tick)
            now, wall = time.monotonic(), time.time()
            for guard in list(self._guards):
                await self._check(guard, now, wall)

    async def _check(self, guard: SessionGuard, now: float, wall: float) -> None:
        ended = None
        if guard.expires_at is not None and wall >= guard.expires_at:
            ended = (TOKEN_EXPIRED, "token expired")
        elif (
            guard.awaiting_pong_since is not None
            and now >= guard.awaiting_pong_since + self.pong_timeout
        ):
            ended = (PEER_SILENT, f"no pong within {self.pong_timeout:g}s")
        try:
            if ended is not None:
                self._guards.discard(guard)
                await guard.close(*ended)
            elif guard.ping is not None and _ping_due(guard, now):
                guard.awaiting_pong_since, guard.next_ping = now, now + self.keepalive
                await guard.ping()
        except (RuntimeError, WebSocketDisconnect, WebSocketDisconnected):
            self._guards.discard(guard)  # the connection is already gone


def _ping_due(guard: SessionGuard, now: float) -> bool:
    return guard.awaiting_pong_since is None and now >= guard.next_ping


class BoundedTextFrames(ASGIWebSocketAdapter):
    """Text frames only, no larger than an HTTP body may be (`max_body_bytes`): a larger
    message closes the connection with 4413 before it is parsed. orjson gives bytes;
    GraphQL over websockets is text frames, so they go out as text."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        limit: int = getattr(self.view, "max_message_bytes")  # noqa: B009  (set by our view)
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    raise NonTextMessageReceived
                if len(text) > limit or len(text.encode()) > limit:
                    await self.close(MESSAGE_TOO_LARGE, f"message larger than {limit} bytes")
                    return
                try:
                    yield orjson.loads(text)
                except orjson.JSONDecodeError:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from None
        except WebSocketDisconnect:
            return

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except (WebSocketDisconnect, RuntimeError) as error:
            raise WebSocketDisconnected from error


class GuardedTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    guard: SessionGuard | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self.guard is None:
            self.guard = _guards(self).watch(
                self.websocket.close,
                _expiry(self.context),
                lambda: self.send_message({"type": "ping"}),
            )

    async def handle_pong(self, message: PongMessage) -> None:
        if self.guard is not None:
            self.guard.pong()

    async def shutdown(self) -> None:
        _guards(self).forget(self.guard)
        await super().shutdown()

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        """A document that does not parse (or is over the token limit) gets an `error`
        message for its operation, as a validation error does; closing the whole
        connection would end the client's other subscriptions too."""
        if isinstance(error, GraphQLSyntaxError):
            return None
        return BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(error)


class GuardedLegacyWS(BaseGraphQLWSHandler[Context, None]):
    guard: SessionGuard | None = None

    async def handle_connection_init(self, message: LegacyInitMessage) -> None:
        await super().handle_connection_init(message)
        expires_at = _expiry(self.context)
        if self.connection_acknowledged and self.guard is None and expires_at is not None:
            # no ping: the server's `ka` messages keep this protocol alive
            self.guard = _guards(self).watch(self.websocket.close, expires_at, None)

    async def cleanup(self) -> None:
        _guards(self).forget(self.guard)
        await super().cleanup()


def _guards(handler: GuardedTransportWS | GuardedLegacyWS) -> SessionGuards:
    guards: SessionGuards = getattr(handler.view, "guards")  # noqa: B009  (set by our view)
    return guards


def _expiry(context: Context) -> float | None:
    return context.principal.expires_at if context.principal is not None else None
