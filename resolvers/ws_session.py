"""Websocket sessions that end when they should: with their token, when the peer stops
answering, or when a message is larger than an HTTP body may be.

Strawberry's handlers run the two protocols; these subclasses add a guard task per
acknowledged connection. On `graphql-transport-ws` the guard sends protocol `ping`s
every `keepalive` seconds and closes a connection that sends no `pong` within
`pong_timeout`; the legacy `graphql-ws` protocol has no pong (the server sends `ka`).
On both, the connection is closed with 4403 when the token's `exp` passes, so a revoked
admin stops reading the firehose when their token runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    """Closes the connection when the token expires or pings go unanswered."""

    def __init__(
        self,
        close: Callable[[int, str], Awaitable[None]],
        expires_at: float | None,
        ping: Callable[[], Awaitable[None]] | None,
        keepalive: float,
        pong_timeout: float,
    ) -> None:
        self._close = close
        self._expires_at = expires_at
        self._ping = ping
        self._keepalive = keepalive
        self._pong_timeout = pong_timeout
        self._awaiting_pong_since: float | None = None

    def pong(self) -> None:
        self._awaiting_pong_since = None

    async def run(self) -> None:
        next_ping = time.monotonic() + self._keepalive
        while True:
            now = time.monotonic()
            if self._expires_at is not None and time.time() >= self._expires_at:
                await self._end(TOKEN_EXPIRED, "token expired")
                return
            waiting = self._awaiting_pong_since
            if waiting is not None and now >= waiting + self._pong_timeout:
                await self._end(PEER_SILENT, f"no pong within {self._pong_timeout:g}s")
                return
            if self._ping is not None and waiting is None and now >= next_ping:
                self._awaiting_pong_since = now
                next_ping = now + self._keepalive
                await self._ping()
            await asyncio.sleep(self._until_next(next_ping))

    def _until_next(self, next_ping: float) -> float:
        now = time.monotonic()
        deadlines = [next_ping - now] if self._ping is not None else [self._keepalive]
        if self._awaiting_pong_since is not None:
            deadlines.append(self._awaiting_pong_since + self._pong_timeout - now)
        if self._expires_at is not None:
            deadlines.append(self._expires_at - time.time())
        return max(0.01, min(deadlines))

    async def _end(self, code: int, reason: str) -> None:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, WebSocketDisconnected):
            await self._close(code, reason)


def _start(guard: SessionGuard) -> asyncio.Task[None]:
    return asyncio.create_task(guard.run())


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


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
    guard_task: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self.guard_task is None:
            settings = self.context.deps.settings
            self.guard = SessionGuard(
                self.websocket.close,
                _expiry(self.context),
                lambda: self.send_message({"type": "ping"}),
                settings.websocket_keepalive_seconds,
                settings.websocket_pong_timeout_seconds,
            )
            self.guard_task = _start(self.guard)

    async def handle_pong(self, message: PongMessage) -> None:
        if self.guard is not None:
            self.guard.pong()

    async def shutdown(self) -> None:
        await _stop(self.guard_task)
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
    guard_task: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: LegacyInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self.guard_task is None:
            settings = self.context.deps.settings
            guard = SessionGuard(
                self.websocket.close,
                _expiry(self.context),
                None,  # the server's `ka` messages keep this protocol alive
                settings.websocket_keepalive_seconds,
                settings.websocket_pong_timeout_seconds,
            )
            self.guard_task = _start(guard)

    async def cleanup(self) -> None:
        await _stop(self.guard_task)
        await super().cleanup()


def _expiry(context: Context) -> float | None:
    return context.principal.expires_at if context.principal is not None else None
