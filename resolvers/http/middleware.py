"""Pure ASGI middleware: request limits and request metrics."""

from __future__ import annotations

import asyncio
import time

import orjson
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("http_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram("http_request_duration_seconds", "HTTP request latency", ["route"])
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(scope: Scope) -> str:
    """The matched route's template (`/api/v1/subscriptions/status/{user_id}`), set by
    the router on the scope; every unknown path shares one label, so requests cannot
    grow the metric's cardinality."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestLimits:
    """Limits the HTTP server itself does not set: the size and count of request headers
    (431), the body's size (413, before any handler reads it) and the time a client may
    take to send it (408), so a slow or bloated request cannot hold a worker."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_limits: dict[str, int] | None = None,
        max_header_bytes: int,
        max_headers: int,
        body_timeout_seconds: float,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_limits = body_limits or {}  # path -> a larger limit (batch routes)
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.body_timeout_seconds = body_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        too_many = len(headers) > self.max_headers
        if too_many or sum(len(k) + len(v) for k, v in headers) > self.max_header_bytes:
            await _refuse(
                scope, send, 431, "REQUEST_HEADERS_TOO_LARGE", "request headers too large"
            )
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        limit = self.body_limits.get(scope["path"], self.max_body_bytes)
        for name, value in headers:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _refuse(scope, send, 413, "PAYLOAD_TOO_LARGE", "request body too large")
                return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.body_timeout_seconds):
                body = await self._read_body(receive, limit)
        except TimeoutError:
            await _refuse(scope, send, 408, "REQUEST_TIMEOUT", "request body not received in time")
            return
        if body is None:
            await _refuse(scope, send, 413, "PAYLOAD_TOO_LARGE", "request body too large")
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive, limit: int) -> bytes | None:
        """The whole body, or None past the size limit (or on a disconnect: empty)."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    if scope["type"] == "websocket":  # before the handshake: the server answers 403
        await send({"type": "websocket.close", "code": 1008, "reason": message})
        return
    body = orjson.dumps({"errors": [{"code": code, "field": None, "message": message}]})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Metrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route = route_label(scope)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            REQUESTS.labels(route, method, str(status)).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)
