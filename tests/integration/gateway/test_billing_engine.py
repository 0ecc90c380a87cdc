"""Payments through the Billing Engine over real gRPC: the stand-in engine serves the
contract on a local port, the service talks to it through BillingEngineGateway."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from services.app.engine_standin import StandInEngine, serve
from services.app.health import read_backlog
from services.collection import scheduler
from services.common.errors import DomainError, ErrorCode
from services.gateway.billing_engine import BillingEngineGateway, channel_for
from services.platform.deps import Deps
from services.reads import queries
from services.subscriptions import checkout, plan_changes
from services.subscriptions.lifecycle import Status
from tests.conftest import scalar
from tests.integration.subscriptions.test_checkout import counts, used_trial


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[StandInEngine, int]]:
    engine = StandInEngine()
    server, port = await serve(engine, 0)
    yield engine, port
    await server.stop(0)


@pytest.fixture
async def via_engine(deps: Deps, stand_in) -> AsyncIterator[Deps]:  # type: ignore[no-untyped-def]
    gateway = BillingEngineGateway(lambda: channel_for(f"127.0.0.1:{stand_in[1]}"), 0.5)
    yield dataclasses.replace(deps, gateway=gateway)
    await gateway.close()


async def test_a_paid_checkout_is_charged_through_the_engine(via_engine, stand_in):
    await used_trial(via_engine, "eli")
    result = await checkout.subscribe(
        via_engine, checkout.Subscribe("eli", "ad-free", "pm_card_visa", idempotency_key="k1")
    )
    assert result.errors == ()
    assert result.subscription is not None and result.subscription.status is Status.ACTIVE
    assert result.payment is not None and result.payment.processor_payment_id.startswith(
        "pi_engine_"
    )
    again = await checkout.subscribe(
        via_engine, checkout.Subscribe("eli", "ad-free", "pm_card_visa", idempotency_key="k1")
    )
    assert again.payment == result.payment
    assert stand_in[0].created == 1  # one intent, whatever the retries
    method = await scalar(via_engine, "SELECT payment_method_id FROM payment_methods LIMIT 1")
    assert str(method).startswith("pm_engine_")


async def test_declines_and_authentication_map_to_the_service_states(via_engine):
    await used_trial(via_engine, "dee")
    declined = await checkout.subscribe(
        via_engine, checkout.Subscribe("dee", "ad-free", "pm_card_chargeDeclined")
    )
    assert [e.code for e in declined.errors] == [ErrorCode.PAYMENT_DECLINED]
    assert declined.subscription is not None and declined.subscription.status is Status.FAILED
    await used_trial(via_engine, "ray")
    action = await checkout.subscribe(
        via_engine, checkout.Subscribe("ray", "ad-free", "pm_card_authenticationRequired")
    )
    assert action.errors == ()  # the customer authenticates with the client secret
    assert action.payment is not None and action.payment.client_secret
    assert action.subscription is not None and action.subscription.status is Status.PENDING


@pytest.mark.parametrize("failure", ["unreachable", "past_deadline"])
async def test_an_engine_that_cannot_answer_changes_nothing(via_engine, stand_in, failure):
    await used_trial(via_engine, "una")
    await used_trial(via_engine, "ace")
    await checkout.subscribe(via_engine, checkout.Subscribe("ace", "ad-free", "pm_card_visa"))
    engine = stand_in[0]
    if failure == "unreachable":
        engine.available = False
    else:
        engine.delay_seconds = 2.0  # the gateway's deadline is 0.5 s
    before = await counts(via_engine)
    with pytest.raises(DomainError) as caught:
        await checkout.subscribe(via_engine, checkout.Subscribe("una", "ad-free", "pm_card_visa"))
    assert caught.value.code is ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE
    with pytest.raises(DomainError) as upgrading:
        await plan_changes.upgrade(via_engine, plan_changes.Upgrade("ace", "premium"))
    assert upgrading.value.code is ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE
    assert await counts(via_engine) == before
    # Existing subscriptions are unaffected: their reads and entitlements still answer.
    status = await queries.status_of(via_engine, "ace")
    assert status.status is Status.ACTIVE and status.tier == "ad-free"


async def test_renewals_wait_for_an_unreachable_engine_instead_of_declining(via_engine, stand_in):
    engine = stand_in[0]
    await used_trial(via_engine, "ren")
    await checkout.subscribe(via_engine, checkout.Subscribe("ren", "ad-free", "pm_card_visa"))
    payments_before = await scalar(via_engine, "SELECT count(*) FROM payments")
    engine.available = False
    via_engine.clock.advance(timedelta(days=31))
    assert await scheduler.run_due_work(via_engine) == 0
    waiting = await queries.status_of(via_engine, "ren")
    assert waiting.status is Status.ACTIVE  # not PAST_DUE: nothing was declined
    assert await scalar(via_engine, "SELECT count(*) FROM payments") == payments_before
    assert await deferral(via_engine) == (1, timedelta(seconds=30))

    backlog = await read_backlog(via_engine)
    assert backlog.charges_waiting == 1 and await gateway_stalls(via_engine) == []

    # Within the backoff nothing is tried; after it, the next failure doubles the wait.
    assert await scheduler.run_due_work(via_engine) == 0
    via_engine.clock.advance(timedelta(seconds=30))
    assert await scheduler.run_due_work(via_engine) == 0
    assert await deferral(via_engine) == (2, timedelta(seconds=60))

    via_engine.clock.advance(timedelta(seconds=59))
    # 89 s waiting, past a 60 s STALL_ALERT_SECONDS: /admin/health says why
    assert len(await gateway_stalls(via_engine)) == 1
    engine.available = True
    assert engine.created == 1  # only the first checkout reached the engine
    via_engine.clock.advance(timedelta(seconds=1))
    assert await scheduler.run_due_work(via_engine) == 1
    renewed = await queries.status_of(via_engine, "ren")
    assert renewed.status is Status.ACTIVE
    assert renewed.current_period_end is not None
    assert renewed.current_period_end > via_engine.clock.now()
    assert await scalar(via_engine, "SELECT count(*) FROM charge_deferrals") == 0


async def gateway_stalls(deps: Deps) -> list[str]:
    alerting = deps.settings.model_copy(update={"stall_alert_seconds": 60})
    backlog = await read_backlog(dataclasses.replace(deps, settings=alerting))
    return [reason for reason in backlog.stalls if "wait for the payment gateway" in reason]


async def deferral(deps: Deps) -> tuple[int, timedelta]:
    attempts = await scalar(deps, "SELECT attempts FROM charge_deferrals")
    next_at = await scalar(deps, "SELECT next_attempt_at FROM charge_deferrals")
    assert isinstance(attempts, int) and next_at is not None
    return attempts, next_at - deps.clock.now()  # type: ignore[operator]
