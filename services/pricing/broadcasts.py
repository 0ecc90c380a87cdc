"""Telling every user something (a new price: seed `onPricingConfigCreated`), as
`notification.requested` events in batches. The cursor moves in the same transaction as
the batch's events, so a worker that dies half-way resumes where it stopped and nobody
is told twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models import Broadcast
from services.messaging import events
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.store.plans import BroadcastRepository

BATCH_SIZE = 500
NEW_PRICING = "new_pricing"


def start(uow: UnitOfWork, template: str, params: dict[str, Any], now: datetime) -> None:
    """Queue a broadcast inside the caller's transaction."""
    BroadcastRepository(uow.session).add(
        Broadcast(template=template, params=params, sent=0, created_at=now)
    )


async def send_batch(deps: Deps, batch_size: int = BATCH_SIZE) -> int | None:
    """Send the next batch of the oldest unfinished broadcast; returns how many users it
    reached, or None when no broadcast is pending."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        repository = BroadcastRepository(uow.session)
        broadcast = await repository.claim_pending()
        if broadcast is None:
            return None
        users = await repository.known_users_after(broadcast.cursor, batch_size)
        for user_id in users:
            uow.record(events.notification(user_id, broadcast.template, now, **broadcast.params))
        if users:
            broadcast.cursor = users[-1]
            broadcast.sent += len(users)
        if len(users) < batch_size:
            broadcast.finished_at = now
        await uow.commit()
        return len(users)


async def run_pending(deps: Deps, batch_size: int = BATCH_SIZE) -> int:
    """Send every pending broadcast to the end; returns how many notifications went out."""
    total = 0
    while (sent := await send_batch(deps, batch_size)) is not None:
        total += sent
    return total
