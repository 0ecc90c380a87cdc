"""SQL for outbound webhooks: endpoints, the deliveries fanned out from the event log,
the leases senders take on them, and the attempts they made."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from services.store.messaging import LoggedEvent
from services.webhooks.rules import DeliveryStatus, EndpointStatus


@dataclass(frozen=True)
class Leased:
    """A delivery a sender holds, with what it needs to send it."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: str
    attempts: int
    url: str
    secrets: tuple[str, ...]
    body: str


_CLAIM = text(
    """
WITH due AS (
  SELECT id FROM (
    SELECT d.id, row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at) AS n
    FROM webhook_deliveries d
    WHERE d.status = 'PENDING' AND d.next_attempt_at <= :now
      AND (d.leased_until IS NULL OR d.leased_until <= :now)
      AND NOT (d.endpoint_id = ANY(:busy))
  ) ranked WHERE n <= :per_endpoint LIMIT :limit
)
UPDATE webhook_deliveries d SET leased_until = :lease
FROM due
WHERE d.id = due.id AND d.status = 'PENDING'
  AND (d.leased_until IS NULL OR d.leased_until <= :now)
RETURNING d.id, d.endpoint_id, d.event_id, d.attempts, d.position
"""
)


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, endpoint: WebhookEndpoint) -> None:
        self.session.add(endpoint)

    async def endpoint(
        self, endpoint_id: uuid.UUID, *, lock: bool = False
    ) -> WebhookEndpoint | None:
        query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        if lock:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def endpoints(self) -> Sequence[WebhookEndpoint]:
        query = select(WebhookEndpoint).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        return (await self.session.scalars(query)).all()

    async def delete(self, endpoint: WebhookEndpoint) -> None:
        await self.session.delete(endpoint)

    async def enabled_for_fan_out(self) -> Sequence[WebhookEndpoint]:
        """Enabled endpoints no other dispatcher holds, locked."""
        query = (
            select(WebhookEndpoint)
            .where(WebhookEndpoint.status == EndpointStatus.ENABLED)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.scalars(query)).all()

    async def fan_out(
        self, endpoint: WebhookEndpoint, events: Sequence[LoggedEvent], now: datetime
    ) -> int:
        """A delivery of each event for the endpoint, due now (an event already there,
        say replayed, is left as it is)."""
        rows = [
            {
                "id": uuid.uuid4(),
                "endpoint_id": endpoint.id,
                "event_id": event.event_id,
                "event_type": event.event_type,
                "position": event.position,
                "status": DeliveryStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event in events
        ]
        if not rows:
            return 0
        result = await self.session.execute(
            insert(WebhookDelivery)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(WebhookDelivery.id)
        )
        return len(result.all())

    async def claim(
        self,
        now: datetime,
        lease: datetime,
        limit: int,
        per_endpoint: int,
        busy: Collection[uuid.UUID],
    ) -> list[Leased]:
        """Lease due deliveries (at most `per_endpoint` of one endpoint, none of the
        `busy` ones): a sender that dies leaves them to another once the lease ends."""
        values = {
            "now": now,
            "lease": lease,
            "limit": limit,
            "per_endpoint": per_endpoint,
            "busy": list(busy),
        }
        claimed = (await self.session.execute(_CLAIM, values)).all()
        if not claimed:
            return []
        endpoints = {
            e.id: e
            for e in await self.session.scalars(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.id.in_({row.endpoint_id for row in claimed})
                )
            )
        }
        bodies: dict[int, str] = dict(
            (
                await self.session.execute(
                    text(
                        "SELECT position, envelope::text FROM outbox"
                        " WHERE position = ANY(:positions)"
                    ),
                    {"positions": [row.position for row in claimed]},
                )
            ).all()
        )
        leased = []
        for row in claimed:
            endpoint = endpoints[row.endpoint_id]
            secrets = [endpoint.secret]
            until = endpoint.previous_secret_until
            if endpoint.previous_secret and until is not None and until > now:
                secrets.append(endpoint.previous_secret)
            body = bodies.get(row.position)
            if body is None:  # pruned from the log meanwhile: nothing left to send
                continue
            leased.append(
                Leased(
                    row.id,
                    row.endpoint_id,
                    row.event_id,
                    row.attempts,
                    endpoint.url,
                    tuple(secrets),
                    body,
                )
            )
        return leased

    async def delivery(
        self, delivery_id: uuid.UUID, *, lock: bool = False
    ) -> WebhookDelivery | None:
        query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
        if lock:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def deliveries_for_update(
        self, delivery_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, WebhookDelivery]:
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.id.in_(delivery_ids))
            .order_by(WebhookDelivery.id)  # one lock order for every recorder
            .with_for_update()
        )
        return {row.id: row for row in await self.session.scalars(query)}

    async def clear_failing(self, endpoint_id: uuid.UUID) -> None:
        """A success ends a run of failures (a row without one is not even locked)."""
        await self.session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_not(None))
            .values(failing_since=None)
        )

    def add_attempt(self, attempt: WebhookAttempt) -> None:
        self.session.add(attempt)

    async def deliveries(
        self,
        endpoint_id: uuid.UUID,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None,
        status: DeliveryStatus | None,
    ) -> Sequence[WebhookDelivery]:
        """Newest first, keyset by (created_at, id)."""
        query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        if after is not None:
            query = query.where(
                tuple_(WebhookDelivery.created_at, WebhookDelivery.id) < tuple_(*after)
            )
        query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        return (await self.session.scalars(query.limit(limit))).all()

    async def attempts_of(
        self, delivery_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, list[WebhookAttempt]]:
        found: dict[uuid.UUID, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
        if delivery_ids:
            query = (
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id.in_(delivery_ids))
                .order_by(WebhookAttempt.delivery_id, WebhookAttempt.id)
            )
            for attempt in await self.session.scalars(query):
                found[attempt.delivery_id].append(attempt)
        return found

    async def stop_pending(self, endpoint_id: uuid.UUID, reason: str) -> None:
        """A disabled endpoint's waiting deliveries end FAILED (a replay can resend)."""
        await self.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.status == DeliveryStatus.PENDING,
            )
            .values(status=DeliveryStatus.FAILED, next_attempt_at=None, last_error=reason)
        )

    async def requeue(self, endpoint_id: uuid.UUID, since_position: int, now: datetime) -> int:
        """Send again every delivery of the endpoint from `since_position` on."""
        result = await self.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.position > since_position,
                or_(
                    WebhookDelivery.status != DeliveryStatus.PENDING,
                    and_(
                        WebhookDelivery.status == DeliveryStatus.PENDING,
                        WebhookDelivery.next_attempt_at > now,
                    ),
                ),
            )
            .values(
                status=DeliveryStatus.PENDING, next_attempt_at=now, attempts=0, leased_until=None
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
