"""The background worker loop: applies due lifecycle work until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from services.deps import Deps
from services.scheduler import run_due_work

log = logging.getLogger(__name__)
POLL_SECONDS = 5.0


async def run_worker(deps: Deps, poll_seconds: float = POLL_SECONDS) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started; polling every %.1fs", poll_seconds)
    while not stop.is_set():
        try:
            changed = await run_due_work(deps)
            if changed:
                log.info("applied due lifecycle work to %d subscription(s)", changed)
        except Exception:  # keep the loop alive; the next poll retries
            log.exception("due work failed; retrying after the poll interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_seconds)
    log.info("worker stopped")
