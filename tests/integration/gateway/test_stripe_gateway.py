"""The Stripe gateway through the real `stripe` library against a local HTTP stand-in."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta

import pytest
import uvicorn

from services.collection import scheduler
from services.common.errors import DomainError, ErrorCode
from services.gateway.base import ChargeRequest
from services.gateway.stripe_gateway import StripeGateway
from services.platform.deps import Deps
from services.reads import queries
from services.subscriptions import checkout
from services.subscriptions.lifecycle import Status
from tests.conftest import scalar
from tests.integration.subscriptions.test_checkout import counts
from tests.ports import free_port
from tests.stripe_standin import StripeStandIn


@pytest.fixture(scope="module")
def standin():
    stand_in = StripeStandIn()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(stand_in.app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    stand_in.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield stand_in
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def stripe_deps(deps: Deps, standin) -> Deps:
    gateway = StripeGateway("sk_test_standin", api_base=standin.url, max_network_retries=0)
    return dataclasses.replace(deps, gateway=gateway)


async def test_trial_with_a_method_saved_through_a_setup_intent(stripe_deps):
    result = await checkout.subscribe(
        stripe_deps, checkout.Subscribe("sia", "premium", "pm_card_visa")
    )
    assert result.subscription and result.subscription.status is Status.TRIALING
    [method] = await queries.payment_methods_of(stripe_deps, "sia")
    assert method.id.startswith("pm_standin") and (method.brand, method.last4) == ("visa", "4242")
    assert method.platform == "stripe"
    customer = await scalar(
        stripe_deps, "SELECT customer_id FROM payment_customers WHERE user_id='sia'"
    )
    assert str(customer).startswith("cus_standin")


async def _used_trial(deps: Deps, user: str, card: str = "pm_card_visa") -> None:
    from services.subscriptions import interruptions

    await checkout.subscribe(deps, checkout.Subscribe(user, "premium", card))
    await interruptions.cancel(deps, interruptions.CancelSubscription(user, at_period_end=False))


async def test_paid_checkout_declined_and_requires_action(stripe_deps, standin):
    await _used_trial(stripe_deps, "tad")
    paid = await checkout.subscribe(stripe_deps, checkout.Subscribe("tad", "ad-free"))
    assert paid.subscription and paid.subscription.status is Status.ACTIVE
    assert paid.payment and paid.payment.processor_payment_id.startswith("pi_standin")
    assert standin.charges[-1]["amount"] == 499 and standin.charges[-1]["currency"] == "usd"

    await _used_trial(stripe_deps, "uli")
    declined = await checkout.subscribe(
        stripe_deps, checkout.Subscribe("uli", "premium", "pm_card_chargeDeclined")
    )
    assert declined.subscription and declined.subscription.status is Status.FAILED
    assert declined.errors[0].code is ErrorCode.PAYMENT_DECLINED

    await _used_trial(stripe_deps, "val")
    action = await checkout.subscribe(
        stripe_deps, checkout.Subscribe("val", "premium", "pm_card_authenticationRequired")
    )
    assert action.subscription and action.subscription.status is Status.PENDING
    assert action.payment and action.payment.client_secret.endswith("_secret_x")


async def test_unknown_payment_method_is_a_typed_error(stripe_deps):
    with pytest.raises(DomainError) as caught:
        await checkout.subscribe(stripe_deps, checkout.Subscribe("wes", "premium", "pm_nope"))
    assert caught.value.code is ErrorCode.PAYMENT_METHOD_NOT_FOUND


async def test_stripe_unreachable_fails_clearly_and_changes_nothing(deps):
    closed = f"http://127.0.0.1:{free_port()}"
    unreachable = dataclasses.replace(
        deps, gateway=StripeGateway("sk_test_x", api_base=closed, max_network_retries=0)
    )
    before = await counts(deps)
    with pytest.raises(DomainError) as caught:
        await checkout.subscribe(unreachable, checkout.Subscribe("xan", "premium", "pm_card_visa"))
    assert caught.value.code is ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE
    assert await counts(deps) == before
    assert await scalar(deps, "SELECT count(*) FROM payment_methods") == 0


async def test_off_session_renewals_and_an_authentication_decline(stripe_deps, standin, clock):
    await checkout.subscribe(stripe_deps, checkout.Subscribe("yul", "premium", "pm_card_visa"))
    await checkout.subscribe(
        stripe_deps, checkout.Subscribe("zoe", "premium", "pm_card_authenticationRequired")
    )
    clock.advance(timedelta(days=14))
    assert await scheduler.run_due_work(stripe_deps) == 2
    renewed = await queries.subscription_of(stripe_deps, "yul")
    assert renewed and renewed.status is Status.ACTIVE
    needs_auth = await queries.subscription_of(stripe_deps, "zoe")
    assert needs_auth and needs_auth.status is Status.PAST_DUE  # nobody there to authenticate


async def test_a_retried_charge_reuses_the_idempotency_key(stripe_deps, standin, clock):
    await checkout.subscribe(stripe_deps, checkout.Subscribe("ada2", "premium", "pm_card_visa"))
    clock.advance(timedelta(days=14))
    before = len(standin.replays)
    await scheduler.run_due_work(stripe_deps)
    key = await scalar(stripe_deps, "SELECT idempotency_key FROM payments WHERE owner_id='ada2'")
    assert key in standin.replays and len(standin.replays) == before + 1
    first = standin.replays[key]
    # The same request again (a retry after a timeout) replays, it does not charge.
    charges = len(standin.charges)
    [method] = await queries.payment_methods_of(stripe_deps, "ada2")
    replay = await stripe_deps.gateway.charge(
        ChargeRequest("cus", method.id, 999, "USD", "renewal", key, off_session=True)
    )
    assert len(standin.charges) == charges
    assert replay.processor_payment_id == first[1]["id"]


async def test_refunds_go_through_stripes_refund_api(stripe_deps, standin):
    from services.credits import refunds
    from services.credits.rules import RefundStatus

    await _used_trial(stripe_deps, "rui")
    paid = await checkout.subscribe(stripe_deps, checkout.Subscribe("rui", "premium"))
    assert paid.payment is not None and paid.payment.id is not None
    partial = await refunds.refund_payment(
        stripe_deps, "root", refunds.RefundPayment(str(paid.payment.id), "goodwill", 300)
    )
    assert partial.status is RefundStatus.SUCCEEDED and partial.credit_note is not None
    made = [r for r in standin.refunded if r["payment_intent"] == paid.payment.processor_payment_id]
    assert [r["amount"] for r in made] == [300]
    assert made[0]["metadata"]["refund_id"] == str(partial.id)
    rest = await refunds.refund_payment(
        stripe_deps, "root", refunds.RefundPayment(str(paid.payment.id), "the rest")
    )
    assert rest.amount_cents == 699
    with pytest.raises(DomainError) as nothing_left:
        await refunds.refund_payment(
            stripe_deps, "root", refunds.RefundPayment(str(paid.payment.id), "more", 1)
        )
    assert nothing_left.value.code is ErrorCode.REFUND_EXCEEDS_PAYMENT


async def test_a_stripe_checkout_session_subscribes_when_stripe_says_it_completed(
    stripe_deps, standin
):
    import time as clock_time

    from services.collection import checkout_sessions
    from services.collection.payment_results import PaymentResultMessage, ResultOutcome

    created = await checkout_sessions.create_checkout_session(
        stripe_deps,
        checkout_sessions.CreateCheckoutSession(
            "kim", "premium", "https://app.example/done", "https://app.example/plans"
        ),
    )
    assert created.url.startswith("https://checkout.stripe.test/c/cs_standin")
    processor_id = created.url.rsplit("/", 1)[1]
    assert standin.sessions[processor_id]["mode"] == "setup"
    assert standin.sessions[processor_id]["metadata"]["checkout_session_id"] == str(created.id)
    session = standin.complete_checkout(processor_id, "pm_card_visa")
    event = {
        "id": "evt_checkout_1",
        "type": "checkout.session.completed",
        "created": int(clock_time.time()),
        "data": {"object": session},
    }
    message = PaymentResultMessage(
        source="stripe",
        message_id=event["id"],
        message_type=event["type"],
        occurred_at=stripe_deps.clock.now(),
        status=None,
        payload=event,
    )
    assert await checkout_sessions.apply_checkout_completed(stripe_deps, message) is (
        ResultOutcome.APPLIED
    )
    assert await checkout_sessions.apply_checkout_completed(stripe_deps, message) is (
        ResultOutcome.DUPLICATE
    )
    sub = await queries.subscription_of(stripe_deps, "kim")
    assert sub is not None and sub.status is Status.TRIALING
    [method] = await queries.payment_methods_of(stripe_deps, "kim")
    assert method.platform == "stripe"
    view = await checkout_sessions.checkout_session(stripe_deps, "kim", str(created.id))
    assert view.status == "COMPLETED"


async def test_a_card_saved_on_stripes_checkout_page_joins_the_users_methods(stripe_deps, standin):
    from services.collection import checkout_sessions

    created = await checkout_sessions.create_card_session(
        stripe_deps, "lou", "https://app.example/cards", "https://app.example/cards"
    )
    assert created.purpose == "ADD_CARD" and created.plan_code is None
    processor_id = created.url.rsplit("/", 1)[1]
    session = standin.complete_checkout(processor_id, "pm_card_mastercard")
    done = await checkout_sessions.complete_hosted_checkout(
        stripe_deps, processor_id, session["setup_intent"]
    )
    assert done is not None and done.redirect_url == "https://app.example/cards"
    [method] = await queries.payment_methods_of(stripe_deps, "lou")
    assert (method.brand, method.is_default) == ("mastercard", True)
    assert await queries.subscription_of(stripe_deps, "lou") is None  # a card, no plan
