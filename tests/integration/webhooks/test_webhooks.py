"""Outbound webhooks to a real local HTTP receiver, on real PostgreSQL: Standard
Webhooks signatures verified by the `standardwebhooks` package, retries with the same
`webhook-id`, a receiver down for a while, a sender that dies mid-delivery, a slow
endpoint beside a healthy one, secret rotation, disabling after days of failures,
redelivery and replay from the log."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta

import jsonschema
import pytest
from standardwebhooks import Webhook

from services.common.errors import DomainError, ErrorCode
from services.platform.config import Environment
from services.platform.deps import Deps
from services.subscriptions import checkout
from services.webhooks import endpoints
from services.webhooks.delivery import WebhookSender
from services.webhooks.rules import DeliveryStatus, EndpointStatus
from tests.conftest import scalar
from tests.integration.messaging.test_events import schema
from tests.integration.webhooks.receiver import receiving


@pytest.fixture
def hooks(deps: Deps) -> Deps:
    """Short retries (immediately, 1 s, 2 s, 4 s) and a 1-second timeout, as in tests."""
    settings = deps.settings.model_copy(
        update={"webhook_retry_seconds": "0,1,2,4", "webhook_timeout_seconds": 1.0}
    )
    return dataclasses.replace(deps, settings=settings)


async def endpoint_for(deps: Deps, url: str, types: list[str] | None = None):  # type: ignore[no-untyped-def]
    return await endpoints.create(deps, endpoints.EndpointChange(url, types or [], "test"))


async def subscribe(deps: Deps, user: str) -> None:
    await checkout.subscribe(deps, checkout.Subscribe(user, "premium", "pm_card_visa"))


async def test_a_delivery_is_a_signed_cloudevent_the_receiver_can_verify(hooks):
    async with receiving() as receiver:
        endpoint = await endpoint_for(hooks, receiver.url, ["subscription.started"])
        assert endpoint.secret and endpoint.secret.startswith("whsec_")
        await subscribe(hooks, "ann")
        sender = WebhookSender(hooks)
        await sender.drain()
        await sender.close()
    [got] = receiver.got
    event = Webhook(endpoint.secret).verify(got.body, got.headers)
    assert event["type"] == "subscription.started" and event["subject"] == "ann"
    assert got.headers["webhook-id"] == event["id"]
    listed = await endpoints.endpoints(hooks)
    assert [e.secret for e in listed] == [None]  # shown once, at creation


async def test_a_receiver_failing_twice_gets_it_on_the_third_attempt_with_the_same_id(hooks, clock):
    async with receiving() as receiver:
        receiver.fail_next = 2
        endpoint = await endpoint_for(hooks, receiver.url, ["subscription.started"])
        await subscribe(hooks, "ben")
        sender = WebhookSender(hooks)
        await sender.drain()  # attempt 1 fails; attempt 2 is due in 1 s
        clock.advance(timedelta(seconds=1))
        await sender.drain()  # attempt 2 fails; attempt 3 in 2 s
        await sender.drain()  # nothing due yet
        assert len(receiver.got) == 2
        clock.advance(timedelta(seconds=2))
        await sender.drain()
        await sender.close()
    assert len(set(receiver.ids())) == 1 and len(receiver.got) == 3
    page = await endpoints.deliveries(hooks, str(endpoint.id), 10, None, None)
    [delivery] = page.items
    assert delivery.status is DeliveryStatus.SUCCEEDED
    assert [(a.attempt, a.status_code) for a in delivery.attempts] == [
        (1, 500),
        (2, 500),
        (3, 204),
    ]
    assert delivery.attempts[0].next_attempt_at == delivery.attempts[0].attempted_at + timedelta(
        seconds=1
    )


async def test_a_receiver_down_for_a_while_gets_everything_once_it_is_back(hooks, clock):
    async with receiving() as receiver:
        port = receiver.port
        await endpoint_for(hooks, receiver.url)
    # The receiver is gone: connections are refused.
    for user in ("cat", "dan", "eve"):
        await subscribe(hooks, user)
    sender = WebhookSender(hooks)
    await sender.drain()
    clock.advance(timedelta(seconds=1))
    await sender.drain()
    failed = await scalar(hooks, "SELECT count(*) FROM webhook_attempts WHERE error IS NOT NULL")
    assert failed > 0
    logged = await scalar(hooks, "SELECT count(*) FROM outbox")
    async with receiving(port) as back:
        clock.advance(timedelta(seconds=2))
        await sender.drain()
        await sender.close()
    assert len(set(back.ids())) == len(back.ids()) == logged  # each event, once


async def test_a_sender_that_dies_mid_delivery_loses_nothing(hooks, clock):
    async with receiving() as receiver:
        receiver.delay = 0.5
        endpoint = await endpoint_for(hooks, receiver.url, ["subscription.started"])
        await subscribe(hooks, "fay")
        dying = WebhookSender(hooks)
        await dying.fan_out()
        assert await dying.send_due() == 1
        await asyncio.sleep(0.1)  # the POST is in flight
        for task in list(dying._tasks):  # what kill -9 does to it: nothing is recorded
            task.cancel()
        await asyncio.gather(*dying._tasks, return_exceptions=True)
        receiver.delay = 0
        other = WebhookSender(hooks)
        await other.drain()
        assert receiver.got == []  # still leased to the dead sender
        clock.advance(timedelta(seconds=dying.lease_seconds))  # the lease is over
        await other.drain()
        await other.close()
        await dying.client.aclose()
    assert receiver.ids() and len(set(receiver.ids())) == 1
    page = await endpoints.deliveries(hooks, str(endpoint.id), 10, None, None)
    assert [d.status for d in page.items] == [DeliveryStatus.SUCCEEDED]


async def test_a_slow_endpoint_does_not_delay_a_healthy_one(hooks):
    async with receiving() as slow, receiving() as healthy:
        slow.delay = 0.9  # under the 1-second timeout
        await endpoint_for(hooks, slow.url)
        await endpoint_for(hooks, healthy.url)
        for user in ("gus", "hal"):
            await subscribe(hooks, user)
        sender = WebhookSender(hooks)
        await sender.fan_out()
        await sender.send_due()
        for _ in range(100):  # the healthy receiver has everything long before
            if len(healthy.got) == await scalar(hooks, "SELECT count(*) FROM outbox"):
                break
            await asyncio.sleep(0.01)
        assert healthy.got and slow.got == []
        await sender.close()
    assert len(slow.got) == len(healthy.got)


async def test_a_rotated_secret_signs_beside_the_old_one_for_a_day(hooks, clock):
    async with receiving() as receiver:
        created = await endpoint_for(hooks, receiver.url, ["subscription.started"])
        rotated = await endpoints.rotate_secret(hooks, str(created.id))
        assert rotated.secret and rotated.secret != created.secret
        await subscribe(hooks, "ida")
        sender = WebhookSender(hooks)
        await sender.drain()
        clock.advance(timedelta(hours=25))
        await subscribe(hooks, "jon")
        await sender.drain()
        await sender.close()
    first, second = receiver.got
    for secret in (created.secret, rotated.secret):
        Webhook(secret).verify(first.body, first.headers)  # both sign during the overlap
    Webhook(rotated.secret).verify(second.body, second.headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(created.secret).verify(second.body, second.headers)


async def test_an_endpoint_failing_for_days_is_disabled_and_says_so(hooks, clock):
    settings = hooks.settings.model_copy(
        update={"webhook_retry_seconds": "0,86400,86400,86400,86400,86400,86400"}
    )
    hooks = dataclasses.replace(hooks, settings=settings)
    async with receiving() as receiver:
        receiver.fail_next = 1000
        endpoint = await endpoint_for(hooks, receiver.url, ["subscription.started"])
        await subscribe(hooks, "kim")
        sender = WebhookSender(hooks)
        for _ in range(6):
            await sender.drain()
            clock.advance(timedelta(days=1))
        await sender.close()
    [view] = await endpoints.endpoints(hooks)
    assert view.status is EndpointStatus.DISABLED and "5 days" in (view.disabled_reason or "")
    assert len(receiver.got) == 6  # days 0..5, then it stopped
    disabled = await scalar(
        hooks, "SELECT envelope::jsonb FROM outbox WHERE event_type = 'webhook_endpoint.disabled'"
    )
    jsonschema.validate(disabled, schema("webhook_endpoint.disabled"))
    assert disabled["data"]["endpointId"] == str(endpoint.id)  # type: ignore[index]
    enabled = await endpoints.set_enabled(hooks, str(endpoint.id), True)
    assert enabled.status is EndpointStatus.ENABLED


async def test_redeliver_and_replay_send_again_with_the_same_id(hooks, clock):
    async with receiving() as receiver:
        await subscribe(hooks, "lou")  # before the endpoint: only a replay reaches it
        endpoint = await endpoint_for(hooks, receiver.url, ["subscription.started"])
        await subscribe(hooks, "max")
        sender = WebhookSender(hooks)
        await sender.drain()
        assert len(receiver.got) == 1
        [delivery] = (await endpoints.deliveries(hooks, str(endpoint.id), 10, None, None)).items
        await endpoints.redeliver(hooks, str(delivery.id))
        await sender.drain()
        assert receiver.ids() == [delivery.event_id] * 2
        queued = await endpoints.replay(hooks, str(endpoint.id), clock.now() - timedelta(days=1))
        assert queued == 2  # lou's event for the first time, max's again
        await sender.drain()
        await sender.close()
    subjects = [json.loads(r.body)["subject"] for r in receiver.got]
    assert sorted(subjects) == ["lou", "max", "max", "max"]


async def test_bad_endpoints_are_refused(hooks):
    for url, types, field in (
        ("ftp://example.com/x", [], "url"),
        ("http://user:pw@example.com/x", [], "url"),
        ("https://example.com/x", ["no.such.event"], "eventTypes"),
    ):
        with pytest.raises(DomainError) as refused:
            await endpoints.create(hooks, endpoints.EndpointChange(url, types, ""))
        assert refused.value.code is ErrorCode.INVALID_INPUT and refused.value.field == field
    with pytest.raises(DomainError) as missing:
        await endpoints.rotate_secret(hooks, "not-an-id")
    assert missing.value.code is ErrorCode.NOT_FOUND
    assert await scalar(hooks, "SELECT count(*) FROM webhook_endpoints") == 0


async def test_posts_to_one_endpoint_stay_within_the_concurrency_setting(hooks):
    settings = hooks.settings.model_copy(update={"webhook_concurrency_per_endpoint": 2})
    hooks = dataclasses.replace(hooks, settings=settings)
    async with receiving() as receiver:
        receiver.delay = 0.1
        await endpoint_for(hooks, receiver.url)
        for user in ("nat", "oli", "pam", "quin"):
            await subscribe(hooks, user)
        sender = WebhookSender(hooks)
        await sender.drain()
        await sender.close()
    logged = await scalar(hooks, "SELECT count(*) FROM outbox")
    assert len(receiver.got) == logged > 2
    assert receiver.most_in_flight == 2


def production(deps: Deps, **more: object) -> Deps:
    settings = deps.settings.model_copy(update={"environment": Environment.PRODUCTION, **more})
    assert settings.is_production
    return dataclasses.replace(deps, settings=settings)


async def test_production_takes_https_to_public_addresses_only(hooks):
    strict = production(hooks)
    for url, why in (
        ("http://93.184.216.34/hook", "https"),
        ("https://10.1.2.3/hook", "10.1.2.3"),
        ("https://127.0.0.1:8443/hook", "127.0.0.1"),
        ("https://localhost/hook", "not a public address"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("https://[::1]/hook", "::1"),
        ("https://[::ffff:192.168.0.7]/hook", "192.168.0.7"),
        ("https://100.64.0.1/hook", "100.64.0.1"),
    ):
        with pytest.raises(DomainError) as refused:
            await endpoints.create(strict, endpoints.EndpointChange(url, [], ""))
        assert refused.value.code is ErrorCode.INVALID_INPUT and refused.value.field == "url"
        assert why in refused.value.message, url
    assert await scalar(hooks, "SELECT count(*) FROM webhook_endpoints") == 0
    public = await endpoints.create(
        strict, endpoints.EndpointChange("https://93.184.216.34/h", [], "")
    )
    with pytest.raises(DomainError, match=r"10\.0\.0\.9"):
        await endpoints.update(
            strict, str(public.id), endpoints.EndpointChange(url="https://10.0.0.9/h")
        )
    inside = production(hooks, webhook_allow_private=True)
    allowed = await endpoints.create(inside, endpoints.EndpointChange("https://10.0.0.9/h", [], ""))
    assert allowed.url == "https://10.0.0.9/h"
    with pytest.raises(DomainError, match="https"):  # allowing private keeps https
        await endpoints.create(inside, endpoints.EndpointChange("http://10.0.0.9/h", [], ""))


async def test_production_does_not_post_to_a_name_that_now_leads_inside(hooks, clock):
    """A URL accepted once (here: in development) is checked again before each POST."""
    async with receiving() as receiver:
        endpoint = await endpoint_for(hooks, receiver.url, ["subscription.started"])
        await subscribe(hooks, "rex")
        strict = WebhookSender(production(hooks))
        await strict.drain()
        await strict.close()
        assert receiver.got == []
        [delivery] = (await endpoints.deliveries(hooks, str(endpoint.id), 10, None, None)).items
        [attempt] = delivery.attempts
        assert attempt.status_code is None and "not a public address" in (attempt.error or "")
        clock.advance(timedelta(seconds=1))
        inside = WebhookSender(production(hooks, webhook_allow_private=True))
        await inside.drain()
        await inside.close()
    assert len(receiver.got) == 1
