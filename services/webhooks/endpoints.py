"""Admin use cases for webhook endpoints: create (the secret shown once), update,
disable and enable, delete, rotate the secret (the old one signs alongside for 24
hours), list deliveries with their attempts, redeliver one, replay from the log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from services.common.errors import DomainError, ErrorCode
from services.common.pagination import Page, check_first, decode_cursor, encode_cursor
from services.common.text import check_text
from services.messaging import events
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.store.messaging import last_position, position_at, sequence_log
from services.webhooks.addresses import check_endpoint_url
from services.webhooks.rules import (
    ROTATION_OVERLAP,
    DeliveryStatus,
    EndpointStatus,
    check_event_types,
    new_secret,
)

MAX_DESCRIPTION = 500
REPLAY_PAGE = 1000


@dataclass(frozen=True)
class EndpointView:
    id: uuid.UUID
    url: str
    description: str
    event_types: tuple[str, ...]
    status: EndpointStatus
    disabled_reason: str | None
    created_at: datetime
    secret: str | None = None  # only in the answer that created or rotated it

    @classmethod
    def of(cls, row: WebhookEndpoint, *, with_secret: bool = False) -> EndpointView:
        return cls(
            row.id,
            row.url,
            row.description,
            tuple(row.event_types),
            row.status,
            row.disabled_reason,
            row.created_at,
            row.secret if with_secret else None,
        )


@dataclass(frozen=True)
class AttemptView:
    attempt: int
    status_code: int | None
    duration_ms: int
    error: str | None
    attempted_at: datetime
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class DeliveryView:
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: tuple[AttemptView, ...]
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, row: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryView:
        return cls(
            row.id,
            row.endpoint_id,
            row.event_id,
            row.event_type,
            row.status,
            tuple(
                AttemptView(
                    a.attempt,
                    a.status_code,
                    a.duration_ms,
                    a.error,
                    a.attempted_at,
                    a.next_attempt_at,
                )
                for a in attempts
            ),
            row.next_attempt_at,
            row.created_at,
            row.delivered_at,
        )


@dataclass(frozen=True)
class EndpointChange:
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None


async def _endpoint(uow: UnitOfWork, endpoint_id: str) -> WebhookEndpoint:
    try:
        wanted = uuid.UUID(endpoint_id)
    except ValueError:
        wanted = None
    found = await uow.webhooks.endpoint(wanted, lock=True) if wanted else None
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no webhook endpoint {endpoint_id!r}", "endpointId")
    return found


async def create(deps: Deps, change: EndpointChange) -> EndpointView:
    """Deliveries start with the events after its creation (replay reaches back)."""
    now = deps.clock.now()
    url = await check_endpoint_url(change.url or "", deps.settings)
    types = check_event_types(change.event_types or [], events.PUBLISHED_TYPES)
    description = check_text(
        change.description or "", "description", MAX_DESCRIPTION, required=False
    )
    async with deps.uow() as uow:
        await sequence_log(uow.session)
        endpoint = WebhookEndpoint(
            id=uuid.uuid4(),
            url=url,
            description=description,
            event_types=types,
            status=EndpointStatus.ENABLED,
            secret=new_secret(),
            cursor=await last_position(uow.session),
            created_at=now,
            updated_at=now,
        )
        uow.webhooks.add(endpoint)
        await uow.commit()
        return EndpointView.of(endpoint, with_secret=True)


async def endpoints(deps: Deps) -> list[EndpointView]:
    async with deps.uow() as uow:
        return [EndpointView.of(row) for row in await uow.webhooks.endpoints()]


async def update(deps: Deps, endpoint_id: str, change: EndpointChange) -> EndpointView:
    async with deps.uow() as uow:
        endpoint = await _endpoint(uow, endpoint_id)
        if change.url is not None:
            endpoint.url = await check_endpoint_url(change.url, deps.settings)
        if change.event_types is not None:
            endpoint.event_types = check_event_types(change.event_types, events.PUBLISHED_TYPES)
        if change.description is not None:
            endpoint.description = check_text(
                change.description, "description", MAX_DESCRIPTION, required=False
            )
        endpoint.updated_at = deps.clock.now()
        await uow.commit()
        return EndpointView.of(endpoint)


async def set_enabled(deps: Deps, endpoint_id: str, enabled: bool) -> EndpointView:
    """Disabling stops its waiting deliveries; enabling delivers what the log got since
    it was disabled (its cursor stayed where delivery stopped)."""
    async with deps.uow() as uow:
        endpoint = await _endpoint(uow, endpoint_id)
        endpoint.status = EndpointStatus.ENABLED if enabled else EndpointStatus.DISABLED
        endpoint.disabled_reason = None if enabled else "disabled by an admin"
        endpoint.failing_since = None
        if not enabled:
            await uow.webhooks.stop_pending(endpoint.id, "endpoint disabled")
        endpoint.updated_at = deps.clock.now()
        await uow.commit()
        return EndpointView.of(endpoint)


async def delete(deps: Deps, endpoint_id: str) -> EndpointView:
    async with deps.uow() as uow:
        endpoint = await _endpoint(uow, endpoint_id)
        view = EndpointView.of(endpoint)
        await uow.webhooks.delete(endpoint)
        await uow.commit()
        return view


async def rotate_secret(deps: Deps, endpoint_id: str) -> EndpointView:
    now = deps.clock.now()
    async with deps.uow() as uow:
        endpoint = await _endpoint(uow, endpoint_id)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_until = now + ROTATION_OVERLAP
        endpoint.secret = new_secret()
        endpoint.updated_at = now
        await uow.commit()
        return EndpointView.of(endpoint, with_secret=True)


async def deliveries(
    deps: Deps, endpoint_id: str, first: int, after: str | None, status: DeliveryStatus | None
) -> Page[DeliveryView]:
    first = check_first(first)
    cursor = decode_cursor(after)
    async with deps.uow() as uow:
        endpoint = await _endpoint(uow, endpoint_id)
        rows = list(await uow.webhooks.deliveries(endpoint.id, first + 1, cursor, status))
        shown = rows[:first]
        attempts = await uow.webhooks.attempts_of([row.id for row in shown])
    views = tuple(DeliveryView.of(row, attempts[row.id]) for row in shown)
    end = encode_cursor(shown[-1].created_at, shown[-1].id) if shown else after
    return Page(views, len(rows) > first, end)


async def redeliver(deps: Deps, delivery_id: str) -> DeliveryView:
    """Send it again now (same `webhook-id`), whatever became of it."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        try:
            wanted: uuid.UUID | None = uuid.UUID(delivery_id)
        except ValueError:
            wanted = None
        row = await uow.webhooks.delivery(wanted, lock=True) if wanted else None
        if row is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"no delivery {delivery_id!r}", "deliveryId")
        row.status, row.next_attempt_at, row.leased_until = DeliveryStatus.PENDING, now, None
        row.attempts = 0  # the schedule starts over
        attempts = await uow.webhooks.attempts_of([row.id])
        await uow.commit()
        return DeliveryView.of(row, attempts[row.id])


async def replay(deps: Deps, endpoint_id: str, since: datetime) -> int:
    """Every logged event since `since` the endpoint takes is sent again (or for the
    first time, if it came before the endpoint); returns how many were queued."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        endpoint = await _endpoint(uow, endpoint_id)
        start = await position_at(uow.session, since)
        position, queued = start, 0
        while position < endpoint.cursor:
            page = await uow.webhooks.fan_out(endpoint, position, endpoint.cursor, REPLAY_PAGE, now)
            if not page.found:
                break
            queued += page.created
            position = page.reached
        queued += await uow.webhooks.requeue(endpoint.id, start, now)
        await uow.commit()
        return queued
