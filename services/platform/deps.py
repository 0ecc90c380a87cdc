"""What every use case needs, handed over by the composition root (main.py)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.cache.access_cache import AccessCache
from services.cache.gate import QuotaGate
from services.common.group_commit import GroupCommit
from services.gateway.base import PaymentGateway
from services.messaging.events import CATALOG_EVENTS, DomainEvent
from services.messaging.live import LiveFeed, QuotaPushes
from services.platform.clock import Clock
from services.platform.config import Settings
from services.platform.uow import InboxEntry, UnitOfWork
from services.store.db import plain_pool


@dataclass
class Deps:
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    clock: Clock
    gateway: PaymentGateway

    cache: AccessCache | None = None
    quota_gate: QuotaGate | None = None  # Redis's check-and-count for hard limits
    inbox: InboxEntry | None = None
    live: LiveFeed | None = None  # pushes to websocket clients outside the outbox (quotas)
    quota_pushes: QuotaPushes | None = None  # quota changes, coalesced before the feed
    # Single usage calls sharing transactions (services/usage/group_commit.py); only at
    # the service's own time and outside a consumed message's inbox entry.
    usage_commits: GroupCommit[Any, Any] | None = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(
            self.session_factory,
            self.settings.event_source,
            topic_for=self.settings.topic_for,
            inbox=self.inbox,
            after_commit=self._invalidate if self.cache else None,
        )

    async def _invalidate(self, events: list[DomainEvent]) -> None:
        """Cached access of the users a commit changed is dropped right after it."""
        assert self.cache is not None
        if any(event.type in CATALOG_EVENTS for event in events):
            await self.cache.invalidate_everyone()
        await self.cache.invalidate(
            event.subject
            for event in events
            if event.type.startswith(("subscription.", "quota_pack."))
        )

    async def forget_everyone(self) -> None:
        """Drop every user's cached access (a change to what plans include)."""
        if self.cache is not None:
            await self.cache.invalidate_everyone()

    def plain_connection(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A plain asyncpg connection for the hot paths: one-statement reads with no
        BEGIN / ROLLBACK around them, and the batched writes (usage counts, webhook
        claims and attempts) that run their own short transaction. No ORM."""
        return plain_pool(self._database_url).acquire()

    @cached_property
    def _database_url(self) -> str:
        engine: AsyncEngine = self.session_factory.kw["bind"]
        return engine.url.render_as_string(hide_password=False)

    def applying(self, inbox: InboxEntry) -> Deps:
        """These deps, with every unit of work recording `inbox` as applied (once)."""
        return replace(self, inbox=inbox, usage_commits=None)

    def at(self, clock: Clock) -> Deps:
        """These deps at another clock's time (a test clock): their calls commit alone."""
        return replace(self, clock=clock, usage_commits=None)
