"""The unit of work: one transaction, its repositories, and the events it records.

Use cases open one, call the rules, and `commit()`; nothing else commits. Events the
use case recorded are written to the outbox inside the same transaction, so they
exist exactly when the change they describe does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.messaging.events import DomainEvent
from services.store.billing import BillingRepository
from services.store.credits import CreditRepository
from services.store.discounts import DiscountRepository
from services.store.messaging import MessagingRepository
from services.store.operations import OperationsRepository, TestClockRepository
from services.store.packs import PackRepository
from services.store.plans import PlanRepository
from services.store.subscriptions import SubscriptionRepository
from services.store.usage.repository import UsageRepository
from services.store.webhooks import WebhookRepository


@dataclass(frozen=True)
class InboxEntry:
    """An incoming message whose effect this unit of work applies."""

    source: str
    message_id: str
    message_type: str
    received_at: datetime


class DuplicateMessage(Exception):
    """The message was applied before; nothing was done."""


class UnitOfWork:
    session: AsyncSession
    plans: PlanRepository
    subscriptions: SubscriptionRepository
    billing: BillingRepository
    messaging: MessagingRepository
    operations: OperationsRepository
    clocks: TestClockRepository
    usage: UsageRepository
    packs: PackRepository
    discounts: DiscountRepository
    credits: CreditRepository

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        event_source: str,
        topic_for: Callable[[str], str] = str,
        inbox: InboxEntry | None = None,
        after_commit: Callable[[list[DomainEvent]], Awaitable[None]] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._event_source = event_source
        self._topic_for = topic_for
        self._inbox = inbox
        self._after_commit = after_commit
        self._events: list[DomainEvent] = []
        self.committed_events: list[DomainEvent] = []

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self.plans = PlanRepository(self.session)
        self.subscriptions = SubscriptionRepository(self.session)
        self.billing = BillingRepository(self.session)
        self.messaging = MessagingRepository(self.session, self._event_source)
        self.operations = OperationsRepository(self.session)
        self.clocks = TestClockRepository(self.session)
        self.usage = UsageRepository(self.session)
        self.packs = PackRepository(self.session)
        self.discounts = DiscountRepository(self.session)
        self.credits = CreditRepository(self.session)
        self.webhooks = WebhookRepository(self.session)
        self._events = []
        if self._inbox is not None:
            # The message is recorded in the transaction that applies its effect: a
            # redelivery finds it and stops here; a concurrent twin waits on the key.
            fresh = await self.messaging.record_message(
                self._inbox.source,
                self._inbox.message_id,
                self._inbox.message_type,
                None,
                self._inbox.received_at,
            )
            if not fresh:
                await self.session.close()
                raise DuplicateMessage(self._inbox.message_id)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back anything uncommitted without expiring what was loaded,
        # so views built from loaded rows stay readable after the block.
        await self.session.close()

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction; events recorded inside are dropped if it rolls back."""
        mark = len(self._events)
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self._events[mark:]
            raise

    def record(self, event: DomainEvent) -> None:
        self._events.append(event)

    async def rollback(self) -> None:
        """Undo this transaction so far, with the events it recorded."""
        self._events.clear()
        await self.session.rollback()

    async def commit(self) -> None:
        await self.messaging.add_outbox([(e, self._topic_for(e.type)) for e in self._events])
        await self.session.commit()
        self.committed_events, self._events = self._events, []
        if self._after_commit is not None and self.committed_events:
            await self._after_commit(self.committed_events)
