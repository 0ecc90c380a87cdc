"""A whole billing life through the stand-in Billing Engine and the real broker: the
engine answers PROCESSING and reports each outcome as `payment.processed` on Kafka,
which the service's consumer applies. Trial conversion, a renewal, a declined renewal
(grace) and the recovery, as seed 004 runs them; then a PROCESSING charge whose event
never comes is settled by asking the engine."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from services.app.engine_standin import StandInEngine, serve
from services.billing import payment_methods
from services.collection import reconcile, scheduler
from services.gateway.billing_engine import BillingEngineGateway, channel_for
from services.messaging.kafka import KafkaPublisher
from services.platform.deps import Deps
from services.reads import queries
from services.subscriptions import checkout
from services.subscriptions.lifecycle import Status
from tests.conftest import scalar
from tests.integration.messaging.test_events import (  # noqa: F401  (the broker fixture)
    broker,
    run_consumer,
    with_own_topics,
)
from tests.integration.subscriptions.test_checkout import used_trial

DAY = timedelta(days=1)


@pytest.fixture
async def engine_and_deps(deps: Deps, broker) -> AsyncIterator[tuple[StandInEngine, Deps]]:  # noqa: F811
    deps = await with_own_topics(deps, broker)
    publisher = KafkaPublisher(broker.bootstrap, "billing-engine-test")
    engine = StandInEngine(publisher=publisher, topic=deps.settings.topic_payment_processed)
    server, port = await serve(engine, 0)
    gateway = BillingEngineGateway(lambda: channel_for(f"127.0.0.1:{port}"), 2.0)
    yield engine, dataclasses.replace(deps, gateway=gateway)
    await gateway.close()
    await server.stop(0)
    await publisher.close()


async def status(deps: Deps, user: str) -> Status | None:
    return (await queries.status_of(deps, user)).status


async def settled_payments(deps: Deps, user: str) -> int:
    sql = "SELECT count(*) FROM payments WHERE owner_id = :user AND status_literal <> 'started'"
    return int(await scalar(deps, sql, user=user))  # type: ignore[arg-type]


async def settle(deps: Deps, broker, user: str, wanted: Status) -> None:  # noqa: F811
    """Run the consumer until the engine's next payment.processed for `user` is applied,
    then expect `wanted`."""
    before = await settled_payments(deps, user)

    async def applied() -> bool:
        return await settled_payments(deps, user) > before

    await run_consumer(deps, broker, applied)
    assert await status(deps, user) is wanted


async def test_trial_conversion_renewal_decline_and_recovery(engine_and_deps, broker):  # noqa: F811
    engine, deps = engine_and_deps
    await checkout.subscribe(deps, checkout.Subscribe("zed", "premium", "pm_card_asyncSuccess"))
    assert await status(deps, "zed") is Status.TRIALING

    deps.clock.advance(14 * DAY)  # the trial ends: the conversion charge is PROCESSING
    await scheduler.run_due_work(deps)
    assert await status(deps, "zed") is Status.TRIALING
    await settle(deps, broker, "zed", Status.ACTIVE)

    deps.clock.advance(31 * DAY)  # a renewal, settled the same way
    await scheduler.run_due_work(deps)
    await settle(deps, broker, "zed", Status.ACTIVE)
    renewals = await scalar(
        deps, "SELECT count(*) FROM payments WHERE owner_id = 'zed' AND status_literal = 'success'"
    )
    assert renewals == 2

    declining = payment_methods.AddPaymentMethod("zed", "pm_card_asyncDecline", make_default=True)
    await payment_methods.add(deps, declining)
    deps.clock.advance(31 * DAY)  # the next renewal is declined by the processor
    await scheduler.run_due_work(deps)
    await settle(deps, broker, "zed", Status.PAST_DUE)

    recovering = payment_methods.AddPaymentMethod("zed", "pm_card_visa", make_default=True)
    await payment_methods.add(deps, recovering)
    deps.clock.advance(DAY)  # the first retry of grace pays with the new card
    await scheduler.run_due_work(deps)
    assert await status(deps, "zed") is Status.ACTIVE
    assert engine.created == 4


async def test_a_processing_charge_whose_event_never_comes_is_settled_by_asking(
    engine_and_deps,
):
    engine, deps = engine_and_deps
    engine.publisher = None  # the engine settles but never reports it
    await used_trial(deps, "pia")
    pending = await checkout.subscribe(
        deps, checkout.Subscribe("pia", "ad-free", "pm_card_asyncSuccess")
    )
    assert pending.subscription is not None and pending.subscription.status is Status.PENDING
    assert await reconcile.reconcile_unsettled(deps) == 0  # too early to ask
    deps.clock.advance(reconcile.WAIT_FOR_EVENT + timedelta(seconds=1))
    for _ in range(50):  # the stand-in settles its intent 0.2 s after creating it
        if await reconcile.reconcile_unsettled(deps):
            break
        await asyncio.sleep(0.05)
    assert await status(deps, "pia") is Status.ACTIVE
    assert await reconcile.reconcile_unsettled(deps) == 0  # nothing left to settle
