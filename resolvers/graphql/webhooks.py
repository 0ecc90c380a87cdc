"""Event log and webhook resolvers: admins and services page the log, customers their
own events; admins manage webhook endpoints and their deliveries."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from resolvers.graphql import mapping
from schema import console_types as t
from schema.enums import WebhookDeliveryStatus
from schema.inputs import (
    CreateWebhookEndpointInput,
    ReplayWebhooksInput,
    UpdateWebhookEndpointInput,
    WebhookEndpointIdInput,
)
from schema.permissions import Info
from schema.types import PageInfo
from services.common.errors import DomainError
from services.common.pagination import Page
from services.reads import events as event_reads
from services.webhooks import endpoints


def _event_connection(page: Page[event_reads.LoggedEvent]) -> t.LoggedEventConnection:
    edges = [
        t.LoggedEventEdge(
            cursor=event_reads.cursor_of(event),
            node=t.LoggedEvent(
                id=event.event_id,
                type=event.event_type,
                subject=str(event.envelope.get("subject", event.key)),
                time=datetime.fromisoformat(str(event.envelope["time"])),
                data=cast(JSON, event.envelope.get("data")),
            ),
        )
        for event in page.items
    ]
    info = PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor)
    return t.LoggedEventConnection(edges=edges, page_info=info)


async def events(
    info: Info,
    first: int = 50,
    after: str | None = None,
    types: list[str] | None = None,
    user_id: str | None = None,
    since: datetime | None = None,
) -> t.LoggedEventConnection:
    query = event_reads.EventQuery(first, after, types or [], user_id, since)
    return _event_connection(await event_reads.read(info.context.deps, query))


async def my_events(
    info: Info, first: int = 50, after: str | None = None, types: list[str] | None = None
) -> t.LoggedEventConnection:
    me = info.context.user().user_id
    query = event_reads.EventQuery(first, after, types or [], me)
    return _event_connection(await event_reads.read(info.context.deps, query, customer=True))


def _endpoint(view: endpoints.EndpointView) -> t.WebhookEndpoint:
    return t.WebhookEndpoint(
        id=strawberry.ID(str(view.id)),
        url=view.url,
        description=view.description,
        event_types=list(view.event_types),
        status=view.status,
        disabled_reason=view.disabled_reason,
        created_at=view.created_at,
        secret=view.secret,
    )


def _delivery(view: endpoints.DeliveryView) -> t.WebhookDelivery:
    return t.WebhookDelivery(
        id=strawberry.ID(str(view.id)),
        event_id=view.event_id,
        event_type=view.event_type,
        status=view.status,
        attempts=[
            t.WebhookAttempt(
                attempt=a.attempt,
                status_code=a.status_code,
                duration_ms=a.duration_ms,
                error=a.error,
                attempted_at=a.attempted_at,
                next_attempt_at=a.next_attempt_at,
            )
            for a in view.attempts
        ],
        next_attempt_at=view.next_attempt_at,
        created_at=view.created_at,
        delivered_at=view.delivered_at,
    )


async def _answer(call: Awaitable[endpoints.EndpointView]) -> t.WebhookEndpointPayload:
    try:
        view = await call
    except DomainError as error:
        return t.WebhookEndpointPayload(endpoint=None, errors=[mapping.user_error(error)])
    return t.WebhookEndpointPayload(endpoint=_endpoint(view), errors=[])


async def webhook_endpoints(info: Info) -> list[t.WebhookEndpoint]:
    return [_endpoint(view) for view in await endpoints.endpoints(info.context.deps)]


async def create_webhook_endpoint(
    info: Info, input: CreateWebhookEndpointInput
) -> t.WebhookEndpointPayload:
    change = endpoints.EndpointChange(input.url, list(input.event_types), input.description)
    return await _answer(endpoints.create(info.context.deps, change))


async def update_webhook_endpoint(
    info: Info, input: UpdateWebhookEndpointInput
) -> t.WebhookEndpointPayload:
    change = endpoints.EndpointChange(input.url, input.event_types, input.description)
    return await _answer(endpoints.update(info.context.deps, str(input.endpoint_id), change))


async def disable_webhook_endpoint(
    info: Info, input: WebhookEndpointIdInput
) -> t.WebhookEndpointPayload:
    deps, endpoint = info.context.deps, str(input.endpoint_id)
    return await _answer(endpoints.set_enabled(deps, endpoint, False))


async def enable_webhook_endpoint(
    info: Info, input: WebhookEndpointIdInput
) -> t.WebhookEndpointPayload:
    deps, endpoint = info.context.deps, str(input.endpoint_id)
    return await _answer(endpoints.set_enabled(deps, endpoint, True))


async def delete_webhook_endpoint(
    info: Info, input: WebhookEndpointIdInput
) -> t.WebhookEndpointPayload:
    return await _answer(endpoints.delete(info.context.deps, str(input.endpoint_id)))


async def rotate_webhook_secret(
    info: Info, input: WebhookEndpointIdInput
) -> t.WebhookEndpointPayload:
    return await _answer(endpoints.rotate_secret(info.context.deps, str(input.endpoint_id)))


async def webhook_deliveries(
    info: Info,
    endpoint_id: strawberry.ID,
    first: int = 20,
    after: str | None = None,
    status: WebhookDeliveryStatus | None = None,
) -> t.WebhookDeliveryConnection:
    page = await endpoints.deliveries(info.context.deps, str(endpoint_id), first, after, status)
    return t.WebhookDeliveryConnection(
        nodes=[_delivery(view) for view in page.items],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )


async def redeliver_webhook(info: Info, delivery_id: strawberry.ID) -> t.WebhookDeliveryPayload:
    try:
        view = await endpoints.redeliver(info.context.deps, str(delivery_id))
    except DomainError as error:
        return t.WebhookDeliveryPayload(delivery=None, errors=[mapping.user_error(error)])
    return t.WebhookDeliveryPayload(delivery=_delivery(view), errors=[])


async def replay_webhooks(info: Info, input: ReplayWebhooksInput) -> t.ReplayWebhooksPayload:
    try:
        queued = await endpoints.replay(info.context.deps, str(input.endpoint_id), input.since)
    except DomainError as error:
        return t.ReplayWebhooksPayload(queued=0, errors=[mapping.user_error(error)])
    return t.ReplayWebhooksPayload(queued=queued, errors=[])
