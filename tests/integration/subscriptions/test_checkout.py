"""Subscribe against real PostgreSQL: trials, first payments, idempotency, concurrency,
and bad input that must change nothing."""

from __future__ import annotations

import asyncio

import pytest

from services.common.errors import DomainError, ErrorCode
from services.reads import queries
from services.subscriptions import checkout, interruptions
from services.subscriptions.fulfillment import Address, Channel, Fulfillment
from services.subscriptions.lifecycle import Status
from tests.conftest import scalar

COUNTED = ("subscriptions", "subscription_history", "payments", "invoices", "outbox")


async def counts(deps) -> dict[str, int]:
    return {table: int(await scalar(deps, f"SELECT count(*) FROM {table}")) for table in COUNTED}


async def used_trial(deps, user: str) -> None:
    """Give the user a trial and end it, so their next checkout is paid."""
    await checkout.subscribe(deps, checkout.Subscribe(user, "premium", "pm_card_visa"))
    await interruptions.cancel(deps, interruptions.CancelSubscription(user, at_period_end=False))


async def test_first_subscription_is_a_trial_with_history_and_events(deps):
    result = await checkout.subscribe(deps, checkout.Subscribe("alice", "premium", "pm_card_visa"))
    sub = result.subscription
    assert sub is not None and sub.status is Status.TRIALING
    assert result.payment is None and result.errors == ()
    assert "premium_content" in sub.entitlements.features
    history = await scalar(deps, "SELECT reason FROM subscription_history WHERE user_id='alice'")
    assert history == "trial_started"
    types = await scalar(deps, "SELECT array_agg(event_type ORDER BY id) FROM outbox")
    assert types == [
        "subscription.status_changed",
        "subscription.started",
        "notification.requested",
    ]
    methods = await queries.payment_methods_of(deps, "alice")
    assert [(m.brand, m.last4, m.is_default) for m in methods] == [("visa", "4242", True)]
    assert methods[0].id.startswith("pm_local_")  # a saved method, not the test token


async def test_a_paid_checkout_charges_once_and_invoices(deps, gateway):
    await used_trial(deps, "bob")
    result = await checkout.subscribe(deps, checkout.Subscribe("bob", "ad-free"))
    assert result.subscription and result.subscription.status is Status.ACTIVE
    assert result.payment and result.payment.amount_cents == 499
    assert result.subscription.price_paid_cents == 499
    page = await queries.invoices_of(deps, "bob", 10, None)
    [invoice] = page.items
    assert invoice.status.value == "PAID" and invoice.total_cents == 499
    assert invoice.number == "INV-00000001"
    assert gateway.charge_count == 1


async def test_a_declined_card_fails_the_checkout_and_frees_the_slot(deps):
    await used_trial(deps, "carol")
    result = await checkout.subscribe(
        deps, checkout.Subscribe("carol", "premium", "pm_card_chargeDeclined")
    )
    assert result.subscription and result.subscription.status is Status.FAILED
    assert [e.code for e in result.errors] == [ErrorCode.PAYMENT_DECLINED]
    status = await scalar(deps, "SELECT status_literal FROM payments WHERE owner_id='carol'")
    assert status == "failed"
    assert await scalar(deps, "SELECT status FROM invoices WHERE user_id='carol'") == "VOID"
    retry = await checkout.subscribe(deps, checkout.Subscribe("carol", "premium", "pm_card_visa"))
    assert retry.subscription and retry.subscription.status is Status.ACTIVE


async def test_authentication_required_leaves_the_checkout_pending(deps):
    await used_trial(deps, "dave")
    result = await checkout.subscribe(
        deps, checkout.Subscribe("dave", "premium", "pm_card_authenticationRequired")
    )
    assert result.subscription and result.subscription.status is Status.PENDING
    assert result.payment and result.payment.client_secret
    assert result.subscription.entitlements.tier == "free"


async def test_fifty_concurrent_subscribes_leave_one_subscription_and_one_charge(deps, gateway):
    await used_trial(deps, "erin")
    charges_before = gateway.charge_count
    results = await asyncio.gather(
        *(checkout.subscribe(deps, checkout.Subscribe("erin", "premium")) for _ in range(50)),
        return_exceptions=True,
    )
    succeeded = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(succeeded) == 1 and len(refused) == 49
    assert {e.code for e in refused} == {ErrorCode.ALREADY_SUBSCRIBED}
    current = await scalar(
        deps, "SELECT count(*) FROM subscriptions WHERE user_id='erin' AND is_current"
    )
    assert current == 1
    assert gateway.charge_count - charges_before == 1


async def test_a_repeated_idempotency_key_returns_the_first_result_and_charges_once(deps, gateway):
    await used_trial(deps, "fay")
    command = checkout.Subscribe("fay", "premium", idempotency_key="checkout-1")
    first, *repeats = await asyncio.gather(*(checkout.subscribe(deps, command) for _ in range(5)))
    assert gateway.charge_count == 1
    for repeat in repeats:
        assert repeat.subscription and first.subscription
        assert repeat.subscription.id == first.subscription.id
        assert repeat.payment == first.payment
    assert await scalar(deps, "SELECT count(*) FROM payments WHERE owner_id='fay'") == 1


async def test_reusing_a_key_for_another_request_is_refused(deps):
    await used_trial(deps, "gus")
    await checkout.subscribe(deps, checkout.Subscribe("gus", "premium", idempotency_key="k1"))
    with pytest.raises(DomainError) as caught:
        await checkout.subscribe(deps, checkout.Subscribe("gus", "ad-free", idempotency_key="k1"))
    assert caught.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED


async def test_gateway_unreachable_fails_clearly_and_changes_nothing(deps, gateway):
    await used_trial(deps, "hal")
    before = await counts(deps)
    gateway.available = False
    with pytest.raises(DomainError) as caught:
        await checkout.subscribe(deps, checkout.Subscribe("hal", "premium"))
    assert caught.value.code is ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE
    assert await counts(deps) == before


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (checkout.Subscribe("ivy", "no-such-plan", "pm_card_visa"), ErrorCode.PLAN_NOT_FOUND),
        (checkout.Subscribe("ivy", "free", "pm_card_visa"), ErrorCode.PLAN_NOT_PURCHASABLE),
        (checkout.Subscribe("ivy", "premium"), ErrorCode.PAYMENT_METHOD_REQUIRED),
        (checkout.Subscribe("ivy", "premium", "pm_unknown"), ErrorCode.PAYMENT_METHOD_NOT_FOUND),
        (
            checkout.Subscribe("ivy", "premium", "pm_card_visa", Fulfillment(Channel.PICKUP)),
            ErrorCode.INVALID_INPUT,
        ),
        (
            checkout.Subscribe("ivy", "premium", "pm_card_visa", idempotency_key=" "),
            ErrorCode.INVALID_INPUT,
        ),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(deps, command, code):
    before = await counts(deps)
    with pytest.raises(DomainError) as caught:
        await checkout.subscribe(deps, command)
    assert caught.value.code is code
    assert await counts(deps) == before
    assert await scalar(deps, "SELECT count(*) FROM payment_methods") == 0


async def test_a_second_subscription_is_refused_while_one_is_current(deps):
    await checkout.subscribe(deps, checkout.Subscribe("jo", "premium", "pm_card_visa"))
    with pytest.raises(DomainError) as caught:
        await checkout.subscribe(deps, checkout.Subscribe("jo", "ad-free"))
    assert caught.value.code is ErrorCode.ALREADY_SUBSCRIBED


async def test_fulfillment_is_kept_on_the_subscription(deps):
    address = Address("1 Marina Rd", "Lagos", "101001", "NG")
    command = checkout.Subscribe(
        "kim", "premium", "pm_card_visa", Fulfillment(Channel.SHIPPING, address=address)
    )
    result = await checkout.subscribe(deps, command)
    assert result.subscription and result.subscription.fulfillment == {
        "channel": "SHIPPING",
        "address": {
            "line1": "1 Marina Rd",
            "city": "Lagos",
            "postal_code": "101001",
            "country": "NG",
            "line2": None,
            "region": None,
        },
        "storeId": None,
    }


async def test_one_trial_per_user_ever(deps):
    await used_trial(deps, "lee")
    again = await checkout.subscribe(deps, checkout.Subscribe("lee", "premium"))
    assert again.subscription and again.subscription.status is Status.ACTIVE
    assert again.subscription.trial_start is None
