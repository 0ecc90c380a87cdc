"""A real HTTP receiver for webhook tests: uvicorn serving a Starlette app in the test's
event loop, recording what it got and answering as told (fail N times, be slow, be
down)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.ports import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    port: int
    got: list[Received] = field(default_factory=list)
    fail_next: int = 0  # answer 500 this many times
    delay: float = 0.0  # seconds before answering
    in_flight: int = 0
    most_in_flight: int = 0  # POSTs it held at once
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.got]

    async def handle(self, request: Request) -> Response:
        body = (await request.body()).decode()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        self.got.append(Received(dict(request.headers), body))
        if self.fail_next > 0:
            self.fail_next -= 1
            return Response("try later", status_code=500)
        return Response(status_code=204)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/hook", self.handle, methods=["POST"])])
        config = uvicorn.Config(
            app, port=self.port, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        for _ in range(1000):  # uvicorn says when it listens by a flag
            if self.server.started:
                return
            await asyncio.sleep(0.01)
        raise RuntimeError("the webhook receiver did not start")

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.server = self.task = None


@contextlib.asynccontextmanager
async def receiving(port: int | None = None) -> AsyncIterator[Receiver]:
    receiver = Receiver(port or free_port())
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()
