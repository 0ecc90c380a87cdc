"""What every use case needs, handed over by the composition root (main.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.clock import Clock
from services.config import Settings
from services.gateway.base import PaymentGateway
from services.uow import InboxEntry, UnitOfWork


@dataclass
class Deps:
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    clock: Clock
    gateway: PaymentGateway

    inbox: InboxEntry | None = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(
            self.session_factory,
            self.settings.event_source,
            topic_for=self.settings.topic_for,
            inbox=self.inbox,
        )

    def applying(self, inbox: InboxEntry) -> Deps:
        """These deps, with every unit of work recording `inbox` as applied (once)."""
        return replace(self, inbox=inbox)
