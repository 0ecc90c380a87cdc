"""SQL for outbound webhooks: endpoints, the deliveries fanned out from the event log,
the leases senders take on them, and the attempts they made."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import asyncpg
from sqlalchemy import and_, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from services.webhooks.rules import DeliveryStatus, EndpointStatus


@dataclass(frozen=True)
class Leased:
    """A delivery a sender holds, with what it needs to send it."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: str
    url: str
    secrets: tuple[str, ...]
    body: str


CLAIM_SQL = """
WITH due AS MATERIALIZED (  -- once: inlined, a young table's plan re-ran it per row
  SELECT d.id, d.position, e.url,
    CASE WHEN e.previous_secret IS NOT NULL AND e.previous_secret_until > $1
      THEN ARRAY[e.secret, e.previous_secret] ELSE ARRAY[e.secret] END AS secrets
  FROM webhook_endpoints e
  CROSS JOIN LATERAL (
    SELECT d.id, d.position FROM webhook_deliveries d
    WHERE d.endpoint_id = e.id AND d.status = 'PENDING' AND d.next_attempt_at <= $1
      AND (d.leased_until IS NULL OR d.leased_until <= $1)
    ORDER BY d.next_attempt_at
    LIMIT $4
  ) d
  WHERE NOT (e.id = ANY($5::uuid[]))
  LIMIT $3
)
UPDATE webhook_deliveries d SET leased_until = $2
FROM due LEFT JOIN outbox o ON o.position = due.position
WHERE d.id = due.id AND d.status = 'PENDING'
  AND (d.leased_until IS NULL OR d.leased_until <= $1)
RETURNING d.id, d.endpoint_id, d.event_id, due.url, due.secrets,
  o.envelope::text AS body
"""


class Attempt(NamedTuple):
    """One POST's outcome, as recorded: the delivery's attempts then, its status after
    and its next attempt (None when delivered or given up)."""

    delivery_id: uuid.UUID
    attempt: int
    status: DeliveryStatus
    status_code: int | None
    error: str | None
    duration_ms: int
    next_attempt_at: datetime | None


RECORD_SQL = """
WITH r AS (
  SELECT * FROM unnest(
    $2::uuid[], $3::int[], $4::text[],
    $5::int[], $6::text[], $7::int[],
    $8::timestamptz[]
  ) AS r(delivery_id, attempt, status, status_code, error, duration_ms, next_attempt_at)
), moved AS (
  UPDATE webhook_deliveries d SET
    attempts = r.attempt, leased_until = NULL, status = r.status,
    last_status_code = r.status_code, last_error = r.error,
    next_attempt_at = r.next_attempt_at,
    delivered_at = CASE WHEN r.status = 'SUCCEEDED' THEN $1 ELSE d.delivered_at END
  FROM r WHERE d.id = r.delivery_id
)
INSERT INTO webhook_attempts
  (delivery_id, attempt, status_code, duration_ms, error, attempted_at, next_attempt_at)
SELECT delivery_id, attempt, status_code, duration_ms, error, $1, next_attempt_at FROM r
"""


class FannedOut(NamedTuple):
    created: int  # deliveries added
    found: int  # events the endpoint takes in the page read
    reached: int  # the position read up to


_FAN_OUT = text(
    """
WITH page AS (
  SELECT position, event_id, event_type FROM outbox
  WHERE position IS NOT NULL AND position > :after AND position <= :upto
    AND (cardinality(CAST(:types AS text[])) = 0 OR event_type = ANY(CAST(:types AS text[])))
  ORDER BY position LIMIT :limit
), added AS (
  INSERT INTO webhook_deliveries
    (id, endpoint_id, event_id, event_type, position, status, attempts, next_attempt_at,
     created_at)
  SELECT gen_random_uuid(), :endpoint, event_id, event_type, position, 'PENDING', 0, :now, :now
  FROM page
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM added) AS created, (SELECT count(*) FROM page) AS found,
       (SELECT max(position) FROM page) AS reached
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
        self, endpoint: WebhookEndpoint, after: int, upto: int, limit: int, now: datetime
    ) -> FannedOut:
        """A delivery, due now, of each logged event the endpoint takes with a position
        in (after, upto], the first `limit` of them (an event already there, say
        replayed, is left as it is). Done in the database: the events' bodies are read
        when a delivery is sent, not here."""
        found = await self.session.execute(
            _FAN_OUT,
            {
                "endpoint": endpoint.id,
                "after": after,
                "upto": upto,
                "limit": limit,
                "types": list(endpoint.event_types),
                "now": now,
            },
        )
        row = found.one()
        return FannedOut(row.created, row.found, row.reached or after)

    async def delivery(
        self, delivery_id: uuid.UUID, *, lock: bool = False
    ) -> WebhookDelivery | None:
        query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
        if lock:
            query = query.with_for_update()
        return await self.session.scalar(query)

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


# The sender's hot statements, on a plain asyncpg connection (deps.plain_connection()):
# no ORM, and no transaction around the claim, which is one statement.


async def claim(
    connection: asyncpg.Connection,
    now: datetime,
    lease: datetime,
    limit: int,
    per_endpoint: int,
    busy: Collection[uuid.UUID],
) -> list[Leased]:
    """Lease due deliveries (at most `per_endpoint` of one endpoint, none of the `busy`
    ones) with what sending them takes: a sender that dies leaves them to another once
    the lease ends."""
    rows = await connection.fetch(CLAIM_SQL, now, lease, limit, per_endpoint, list(busy))
    return [
        Leased(row[0], row[1], row[2], row[3], tuple(row[4]), row[5])
        for row in rows
        if row[5] is not None  # pruned from the log meanwhile: nothing to send
    ]


async def attempts_made(
    connection: asyncpg.Connection, delivery_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, int]]:
    """Each delivery's endpoint and attempts so far, locked in one order for every
    recorder (a delivery deleted with its endpoint is missing). In a transaction."""
    rows = await connection.fetch(
        "SELECT id, endpoint_id, attempts FROM webhook_deliveries"
        " WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
        list(delivery_ids),
    )
    return {row[0]: (row[1], row[2]) for row in rows}


async def record_attempts(
    connection: asyncpg.Connection,
    attempts: Sequence[Attempt],
    now: datetime,
    succeeded: Collection[uuid.UUID],
) -> None:
    """Each attempt kept and its delivery moved on, in one statement; a success ends
    its endpoint's run of failures (a row without one is not even locked)."""
    await connection.execute(
        RECORD_SQL, now, *(list(column) for column in zip(*attempts, strict=True))
    )
    if succeeded:
        await connection.execute(
            "UPDATE webhook_endpoints SET failing_since = NULL"
            " WHERE id = ANY($1::uuid[]) AND failing_since IS NOT NULL",
            list(succeeded),
        )
