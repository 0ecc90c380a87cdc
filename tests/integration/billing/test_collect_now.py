"""An overdue invoice collected now ("pay now", "retry now") or written off ("mark
uncollectible"): the scheduler's own writes for one customer, signed by who asked."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.billing import payment_methods
from services.collection import collect_now, scheduler
from services.common.errors import DomainError, ErrorCode
from services.subscriptions.lifecycle import Status
from tests.conftest import scalar
from tests.integration.billing.test_bulk_renewals import active


async def past_due(deps, clock, user: str) -> None:  # type: ignore[no-untyped-def]
    await active(deps, user, "pm_card_chargeDeclined")
    clock.advance(timedelta(days=32))
    await scheduler.run_due_work(deps)
    assert await _status(deps, user) == "PAST_DUE"


async def _status(deps, user: str) -> str:  # type: ignore[no-untyped-def]
    sql = "SELECT status FROM subscriptions WHERE user_id = :u ORDER BY created_at DESC LIMIT 1"
    return str(await scalar(deps, sql, u=user))


async def _latest_history(deps, user: str) -> list[object]:  # type: ignore[no-untyped-def]
    found = await scalar(
        deps,
        "SELECT json_build_array(reason, actor) FROM subscription_history WHERE user_id = :u"
        " ORDER BY occurred_at DESC, id DESC LIMIT 1",
        u=user,
    )
    return list(found)  # type: ignore[arg-type]


async def test_pay_now_with_a_new_card_recovers_and_pays_the_open_invoice(deps, clock):
    await past_due(deps, clock, "pam")
    await payment_methods.add(
        deps, payment_methods.AddPaymentMethod("pam", "pm_card_visa", make_default=True)
    )
    clock.advance(timedelta(hours=2))  # before the first retry (day 1 of grace)
    result = await collect_now.retry_now(deps, "pam", "pam")
    assert result.errors == ()
    assert result.subscription is not None and result.subscription.status is Status.ACTIVE
    assert await _latest_history(deps, "pam") == ["payment_recovered", "pam"]
    statuses = await scalar(
        deps, "SELECT json_agg(status ORDER BY created_at) FROM invoices WHERE user_id = 'pam'"
    )
    assert statuses == ["PAID", "PAID"]  # the first period's, and the renewal now paid


async def test_a_declined_retry_now_answers_the_decline_and_counts_as_a_retry(deps, clock):
    await past_due(deps, clock, "ray")
    result = await collect_now.retry_now(deps, "support", "ray")
    assert result.subscription is not None and result.subscription.status is Status.PAST_DUE
    assert [e.code for e in result.errors] == [ErrorCode.PAYMENT_DECLINED]
    retried = "SELECT retry_count FROM subscriptions WHERE user_id = 'ray' AND is_current"
    assert await scalar(deps, retried) == 1
    assert await _latest_history(deps, "ray") == ["payment_retry_failed", "support"]


async def test_retry_now_with_the_gateway_unreachable_says_so_and_declines_nothing(
    deps, clock, gateway
):
    await past_due(deps, clock, "uma")
    payments = "SELECT count(*) FROM payments WHERE owner_id = 'uma'"
    before = await scalar(deps, payments)
    gateway.available = False
    result = await collect_now.retry_now(deps, "support", "uma")
    assert [e.code for e in result.errors] == [ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE]
    assert result.subscription is not None and result.subscription.status is Status.PAST_DUE
    assert await scalar(deps, payments) == before  # no attempt reached the card
    retried = "SELECT retry_count FROM subscriptions WHERE user_id = 'uma' AND is_current"
    assert await scalar(deps, retried) == 0  # not counted as one of the policy's retries
    gateway.available = True
    clock.advance(timedelta(minutes=5))  # past the gateway backoff
    again = await collect_now.retry_now(deps, "support", "uma")
    assert [e.code for e in again.errors] == [ErrorCode.PAYMENT_DECLINED]  # the card's answer


async def test_nothing_overdue_is_refused_and_nothing_changes(deps, clock):
    await active(deps, "ok")
    before = await scalar(deps, "SELECT count(*) FROM subscription_history")
    for call in (collect_now.retry_now, collect_now.mark_uncollectible):
        with pytest.raises(DomainError) as refused:
            await call(deps, "root", "ok")
        assert refused.value.code is ErrorCode.INVALID_TRANSITION
    with pytest.raises(DomainError) as nobody:
        await collect_now.retry_now(deps, "root", "nobody")
    assert nobody.value.code is ErrorCode.NO_SUBSCRIPTION
    assert await scalar(deps, "SELECT count(*) FROM subscription_history") == before


async def test_mark_uncollectible_ends_grace_now_by_the_plans_policy(deps, clock):
    await past_due(deps, clock, "una")
    view = await collect_now.mark_uncollectible(deps, "root", "una")
    assert view.status is Status.EXPIRED  # the default policy's afterGrace
    assert await _latest_history(deps, "una") == ["grace_period_ended", "root"]
    renewal = await scalar(
        deps,
        "SELECT status FROM invoices WHERE user_id = 'una' ORDER BY created_at DESC LIMIT 1",
    )
    assert renewal == "UNCOLLECTIBLE"
