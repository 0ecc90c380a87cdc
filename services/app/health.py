"""Readiness and whether the background work keeps up.

Readiness: the database answers and its schema is at the newest migration. Keeping up:
each worker loop records a heartbeat after every round; the API reads them with the
backlogs (events the relay has not published, due lifecycle work nobody has applied)
so a missing or stuck worker shows on /metrics and /admin/health instead of silently
stopping live updates, events and renewals."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from services.app.migrate import current_revision, head_revision
from services.platform.deps import Deps
from services.store.operations import DueScope

HEAD = head_revision()
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"[:255]
FORGET_AFTER = timedelta(days=1)  # heartbeats of workers gone this long are dropped


class Heartbeats:
    """This process's loops' latest rounds, written to the database in one statement."""

    def __init__(self) -> None:
        self._latest: dict[str, datetime] = {}

    def beat(self, loop: str) -> None:
        self._latest[loop] = datetime.now(UTC)  # liveness is real time, not the test clock

    async def flush(self, deps: Deps) -> int:
        if not self._latest:
            return 0
        async with deps.uow() as uow:
            await uow.operations.record_heartbeats(WORKER_ID, dict(self._latest))
            await uow.operations.forget_heartbeats_before(datetime.now(UTC) - FORGET_AFTER)
            await uow.commit()
        return 0  # nothing worth a log line


@dataclass(frozen=True)
class Backlog:
    unpublished_events: int
    oldest_unpublished_seconds: float  # 0 when nothing waits
    oldest_overdue_seconds: float  # how late the most overdue lifecycle work is
    charges_waiting: int  # due charges the gateway could not take, waiting to retry
    oldest_charge_wait_seconds: float
    heartbeats: dict[str, datetime]
    stall_after_seconds: float

    @property
    def stalls(self) -> list[str]:
        """Why the background work looks stalled (empty: it keeps up)."""
        reasons = []
        limit = self.stall_after_seconds
        if self.oldest_unpublished_seconds > limit:
            reasons.append(
                f"{self.unpublished_events} event(s) unpublished, the oldest for "
                f"{self.oldest_unpublished_seconds:.0f} s: is `main.py worker` running?"
            )
        if self.oldest_overdue_seconds > limit:
            reasons.append(
                f"lifecycle work overdue by {self.oldest_overdue_seconds:.0f} s: "
                "is `main.py worker` running?"
            )
        if self.oldest_charge_wait_seconds > limit:
            reasons.append(
                f"{self.charges_waiting} due charge(s) wait for the payment gateway, the "
                f"oldest for {self.oldest_charge_wait_seconds:.0f} s: is it reachable?"
            )
        return reasons


async def read_backlog(deps: Deps) -> Backlog:
    now = deps.clock.now()
    async with deps.uow() as uow:
        count, oldest = await uow.operations.unpublished_events()
        due = await uow.subscriptions.next_due_at(DueScope(deps.settings.test_clock))
        waiting, waiting_since = await uow.billing.deferred_charges()
        heartbeats = await uow.operations.latest_heartbeats()
    return Backlog(
        unpublished_events=count,
        oldest_unpublished_seconds=_seconds_since(oldest, now),
        oldest_overdue_seconds=_seconds_since(due, now),
        charges_waiting=waiting,
        oldest_charge_wait_seconds=_seconds_since(waiting_since, now),
        heartbeats=heartbeats,
        stall_after_seconds=deps.settings.stall_alert_seconds,
    )


def _seconds_since(moment: datetime | None, now: datetime) -> float:
    return max(0.0, (now - moment).total_seconds()) if moment is not None else 0.0


async def database_checks(deps: Deps) -> dict[str, str]:
    """ "ok" per check, or what is wrong: any failure means not ready."""
    checks: dict[str, str] = {}
    try:
        async with deps.session_factory() as session:
            await session.execute(text("SELECT 1"))
            connection = await session.connection()
            revision = await connection.run_sync(current_revision)
        checks["database"] = "ok"
        checks["migrations"] = "ok" if revision == HEAD else f"at {revision}, head is {HEAD}"
    except Exception as error:
        checks["database"] = f"down: {type(error).__name__}"
    return checks
