"""Webhook deliveries per second to a local receiver vs plain httpx POSTs of the same
bodies to the same receiver in the same run (target >= 0.5), and the event log's cost
on the write path: the renewal benchmark's ratio (`--only lifecycle`) carries it, as
every event is an outbox row already. `python -m bench.webhooks [events]`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
from sqlalchemy import text

from bench.common import Report, Result, drop_database, fresh_database
from services.gateway.local import LocalGateway
from services.messaging.events import DomainEvent
from services.platform.clock import FrozenClock
from services.platform.config import Settings
from services.platform.deps import Deps
from services.store.db import make_engine, make_session_factory
from services.webhooks import endpoints
from services.webhooks.delivery import WebhookSender
from tests.ports import free_port, wait_until_listening

NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)
RECEIVER = """
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def hook(request):
    await request.body()
    return Response(status_code=204)

uvicorn.run(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), port={port},
            log_level="warning", access_log=False)
"""


async def _deliveries(url: str, receiver: str, count: int) -> tuple[float, float]:
    engine = make_engine(url, pool_size=8)
    deps = Deps(
        settings=Settings(database_url=url, webhook_retry_seconds="0,1"),
        session_factory=make_session_factory(engine),
        clock=FrozenClock(NOW),
        gateway=LocalGateway(),
    )
    try:
        await endpoints.create(deps, endpoints.EndpointChange(receiver, [], "bench"))
        async with deps.uow() as uow:
            for n in range(count):
                uow.record(DomainEvent("subscription.resumed", f"u{n}", {"n": n}, NOW))
            await uow.commit()
        async with deps.session_factory() as session:
            bodies = [
                row[0]
                for row in (await session.execute(text("SELECT envelope::text FROM outbox"))).all()
            ]
        sender = WebhookSender(deps)
        started = time.perf_counter()
        await sender.drain()
        webhooks = count / (time.perf_counter() - started)
        await sender.close()
        async with deps.session_factory() as session:
            delivered = await session.scalar(
                text("SELECT count(*) FROM webhook_deliveries WHERE status = 'SUCCEEDED'")
            )
        assert delivered == count, f"{delivered} of {count} delivered"
        plain = await _plain_posts(receiver, bodies, sender.per_endpoint)
        return webhooks, plain
    finally:
        await engine.dispose()


async def _plain_posts(receiver: str, bodies: list[str], at_once: int) -> float:
    """The same bodies, POSTed as many at once as the sender sends one endpoint, nothing
    signed or recorded."""
    limit = asyncio.Semaphore(at_once)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=at_once)) as client:

        async def post(body: str) -> None:
            async with limit:
                answer = await client.post(
                    receiver, content=body.encode(), headers={"content-type": "application/json"}
                )
                answer.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(post(body) for body in bodies))
        return len(bodies) / (time.perf_counter() - started)


def run(report: Report, count: int = 2000) -> None:
    url, admin = fresh_database("webhooks")
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER.format(port=port)])
    try:
        wait_until_listening(port, receiver, "receiver")
        hooks, plain = asyncio.run(_deliveries(url, f"http://127.0.0.1:{port}/hook", count))
        report.add(Result("webhooks: plain httpx POSTs", plain, "req/s"))
        report.add(
            Result(
                "webhooks: signed, recorded deliveries",
                hooks,
                "events/s",
                plain,
                ">= 0.5",
                f"{count} events, fan-out included",
            )
        )
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
        drop_database(url, admin)


if __name__ == "__main__":
    report = Report()
    run(report, int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
    report.print_table()
    print(f"\nwritten to {report.write('webhooks')}")
