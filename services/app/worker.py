"""The background worker: the lifecycle scheduler, the outbox relay, pricing
broadcasts, outbox pruning and (with Kafka) the consumers, as concurrent loops that
stop together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from services.app.health import Heartbeats
from services.app.relay import OutboxRelay
from services.clocks import advance
from services.collection import test_clock
from services.collection.reconcile import reconcile_unsettled
from services.collection.scheduler import run_due_work
from services.messaging.kafka import KafkaConsumerLoop
from services.messaging.live import LiveFeed
from services.messaging.publisher import Publisher
from services.platform.deps import Deps
from services.pricing import broadcasts
from services.webhooks.delivery import WebhookSender

log = logging.getLogger(__name__)
SCHEDULER_POLL_SECONDS = 5.0
BROADCAST_POLL_SECONDS = 2.0
PRUNE_EVERY_SECONDS = 3600.0
HEARTBEAT_SECONDS = 5.0
RECONCILE_SECONDS = 60.0


async def _every(
    stop: asyncio.Event,
    seconds: float,
    name: str,
    work: Callable[[], Awaitable[int]],
    on_round: Callable[[], None] = lambda: None,
) -> None:
    while not stop.is_set():
        try:
            done = await work()
            on_round()
            if done:
                log.info("%s: %d", name, done)
        except Exception:  # keep the loop alive; the next round retries
            log.exception("%s failed; retrying in %.0fs", name, seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


async def _due_work(deps: Deps) -> int:
    await test_clock.restore_offset(deps)  # an API process may have moved the test clock
    resumed = await advance.resume(deps)  # test clocks whose advancing process died
    return resumed + await run_due_work(deps)


def background_loops(
    deps: Deps,
    publisher: Publisher,
    stop: asyncio.Event,
    consumer: KafkaConsumerLoop | None = None,
    live: LiveFeed | None = None,
) -> list[Awaitable[None]]:
    relay = OutboxRelay(
        deps.session_factory,
        publisher,
        deps.clock,
        batch_size=deps.settings.outbox_batch_size,
        retention=timedelta(days=deps.settings.event_retention_days) or None,
        live=live,
    )
    heartbeats = Heartbeats()

    def beat(loop: str) -> Callable[[], None]:
        return lambda: heartbeats.beat(loop)

    loops: list[Awaitable[None]] = [
        _every(
            stop,
            SCHEDULER_POLL_SECONDS,
            "lifecycle work applied",
            lambda: _due_work(deps),
            beat("scheduler"),
        ),
        relay.run(stop, on_round=beat("relay")),
        _every(
            stop,
            BROADCAST_POLL_SECONDS,
            "broadcast notifications",
            lambda: broadcasts.run_pending(deps),
            beat("broadcasts"),
        ),
        _every(stop, PRUNE_EVERY_SECONDS, "events past EVENT_RETENTION_DAYS pruned", relay.prune),
        _every(stop, HEARTBEAT_SECONDS, "heartbeats", lambda: heartbeats.flush(deps)),
        _every(
            stop,
            RECONCILE_SECONDS,
            "unsettled charges settled by asking the gateway",
            lambda: reconcile_unsettled(deps),
            beat("reconcile"),
        ),
    ]
    loops.append(WebhookSender(deps).run(stop))
    if consumer is not None:
        loops.append(consumer.run(stop, on_round=beat("consumer")))
    return loops


async def run_worker(
    deps: Deps,
    publisher: Publisher,
    consumer: KafkaConsumerLoop | None = None,
    live: LiveFeed | None = None,
) -> None:
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started")
    await asyncio.gather(*background_loops(deps, publisher, stop, consumer, live))
    log.info("worker stopped")
