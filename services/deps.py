"""What every use case needs, handed over by the composition root (main.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.clock import Clock
from services.config import Settings
from services.gateway.base import PaymentGateway
from services.uow import UnitOfWork


@dataclass
class Deps:
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    clock: Clock
    gateway: PaymentGateway

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.settings.event_source)
