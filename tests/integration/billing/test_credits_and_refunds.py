"""The credit balance and refunds on real PostgreSQL: credit spent on renewals before
the card, never below zero; refunds to the card (local gateway) or to the balance,
never past what was paid even when they race, each with a gapless credit note."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jsonschema
import pytest

from services.collection import scheduler
from services.common.errors import DomainError, ErrorCode
from services.credits import ledger, refunds
from services.credits.rules import RefundStatus
from services.subscriptions import checkout, interruptions
from tests.conftest import scalar
from tests.integration.messaging.test_events import schema
from tests.integration.subscriptions.test_checkout import used_trial


async def _paid(deps, user: str) -> str:  # type: ignore[no-untyped-def]
    """An ACTIVE subscriber; returns the id of their first payment (999 USD cents)."""
    await used_trial(deps, user)
    result = await checkout.subscribe(deps, checkout.Subscribe(user, "premium", "pm_card_visa"))
    assert result.payment is not None and result.payment.id is not None
    return str(result.payment.id)


async def test_credit_is_spent_on_the_renewal_before_the_card(deps, clock):
    await _paid(deps, "ada")
    entry = await ledger.adjust_credit(
        deps, "root", ledger.AdjustCredit("ada", 300, "usd", "goodwill")
    )
    assert entry.balance_after_cents == 300
    clock.advance(timedelta(days=31))
    await scheduler.run_due_work(deps)
    renewal = await scalar(
        deps,
        "SELECT json_build_array(p.amount_cents, i.total_cents) FROM payments p"
        " JOIN invoices i ON i.id = p.invoice_id WHERE p.owner_id = 'ada'"
        " AND p.purpose = 'RENEWAL'",
    )
    assert renewal == [699, 699]
    assert await ledger.balance_of(deps, "ada") == (0, "USD")
    page = await ledger.ledger_of(deps, "ada", 10, None)
    assert [(e.kind.value, e.amount_cents, e.balance_after_cents) for e in page.items] == [
        ("APPLIED", -300, 0),
        ("ADJUSTMENT", 300, 300),
    ]
    envelopes = await scalar(
        deps, "SELECT json_agg(envelope) FROM outbox WHERE event_type = 'credit.adjusted'"
    )
    for envelope in envelopes:
        jsonschema.validate(envelope, schema("credit.adjusted"))


async def test_the_balance_never_goes_below_zero_under_concurrent_takes(deps):
    await ledger.adjust_credit(deps, "root", ledger.AdjustCredit("bo", 500, "USD", "start"))

    async def take() -> bool:
        try:
            await ledger.adjust_credit(deps, "root", ledger.AdjustCredit("bo", -100, "USD", "take"))
        except DomainError as error:
            assert error.code is ErrorCode.INSUFFICIENT_CREDIT
            return False
        return True

    taken = await asyncio.gather(*(take() for _ in range(20)))
    assert sum(taken) == 5
    assert await ledger.balance_of(deps, "bo") == (0, "USD")
    with pytest.raises(DomainError) as zero:
        await ledger.adjust_credit(deps, "root", ledger.AdjustCredit("bo", 0, "USD", "none"))
    assert zero.value.code is ErrorCode.INVALID_INPUT
    await ledger.adjust_credit(deps, "root", ledger.AdjustCredit("bo", 100, "USD", "again"))
    with pytest.raises(DomainError) as other_currency:
        await ledger.adjust_credit(deps, "root", ledger.AdjustCredit("bo", 100, "EUR", "euros"))
    assert other_currency.value.code is ErrorCode.CURRENCY_MISMATCH


async def test_an_immediate_cancellation_credits_the_unused_time(deps, clock):
    await _paid(deps, "cy")
    clock.advance(timedelta(days=15, hours=12))  # half of a 31-day period
    await interruptions.cancel(deps, interruptions.CancelSubscription("cy", at_period_end=False))
    balance, currency = await ledger.balance_of(deps, "cy")
    assert currency == "USD" and balance == 500  # 999 x 15.5/31 = 499.5 -> 500


async def test_refunds_never_pass_what_was_paid_even_racing(deps):
    payment_id = await _paid(deps, "dee")

    async def refund(n: int) -> int | None:
        try:
            view = await refunds.refund_payment(
                deps, "root", refunds.RefundPayment(payment_id, f"race {n}", amount_cents=300)
            )
        except DomainError as error:
            assert error.code is ErrorCode.REFUND_EXCEEDS_PAYMENT
            return None
        return view.amount_cents

    results = await asyncio.gather(*(refund(n) for n in range(10)))
    assert sorted(r for r in results if r) == [300, 300, 300]  # 900 of 999
    rest = await refunds.refund_payment(deps, "root", refunds.RefundPayment(payment_id, "rest"))
    assert rest.amount_cents == 99 and rest.status is RefundStatus.SUCCEEDED
    refunded, paid = await scalar(
        deps,
        "SELECT json_build_array(amount_refunded_cents, amount_paid_cents) FROM invoices"
        " WHERE user_id = 'dee' AND total_cents > 0",
    )
    assert (refunded, paid) == (999, 999)
    numbers = await scalar(
        deps, "SELECT array_agg(number ORDER BY number) FROM credit_notes WHERE user_id = 'dee'"
    )
    assert numbers == [f"CN-{n:08d}" for n in range(1, 5)]  # gapless
    with pytest.raises(DomainError) as nothing_left:
        await refunds.refund_payment(deps, "root", refunds.RefundPayment(payment_id, "more"))
    assert nothing_left.value.code is ErrorCode.REFUND_EXCEEDS_PAYMENT
    for name in ("refund.created", "credit_note.issued"):
        envelopes = await scalar(
            deps, "SELECT json_agg(envelope) FROM outbox WHERE event_type = :t", t=name
        )
        assert len(envelopes) == 4
        for envelope in envelopes:
            jsonschema.validate(envelope, schema(name))


async def test_a_refund_to_the_balance_and_bad_refunds(deps):
    payment_id = await _paid(deps, "eve")
    kept = await refunds.refund_payment(
        deps,
        "root",
        refunds.RefundPayment(
            payment_id,
            "outage credit",
            amount_cents=250,
            to_credit_balance=True,
            idempotency_key="r-1",
        ),
    )
    assert kept.credit_note is not None and kept.credit_note.amount_cents == 250
    again = await refunds.refund_payment(
        deps,
        "root",
        refunds.RefundPayment(
            payment_id,
            "outage credit",
            amount_cents=250,
            to_credit_balance=True,
            idempotency_key="r-1",
        ),
    )
    assert again.id == kept.id
    assert await ledger.balance_of(deps, "eve") == (250, "USD")
    await used_trial(deps, "fay")
    declined = await checkout.subscribe(
        deps, checkout.Subscribe("fay", "premium", "pm_card_chargeDeclined")
    )
    failed_id = await scalar(
        deps, "SELECT id::text FROM payments WHERE owner_id = 'fay' AND status_literal = 'failed'"
    )
    assert declined.payment is not None
    bad = [
        (refunds.RefundPayment(str(failed_id), "x"), ErrorCode.PAYMENT_NOT_REFUNDABLE),
        (refunds.RefundPayment("not-a-uuid", "x"), ErrorCode.NOT_FOUND),
        (refunds.RefundPayment(payment_id, "x", amount_cents=0), ErrorCode.INVALID_INPUT),
        (
            refunds.RefundPayment(payment_id, "x", amount_cents=800),
            ErrorCode.REFUND_EXCEEDS_PAYMENT,
        ),
        (refunds.RefundPayment(payment_id, " "), ErrorCode.INVALID_INPUT),
        (
            refunds.RefundPayment(payment_id, "x", amount_cents=5, idempotency_key="r-1"),
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
        ),
    ]
    for command, code in bad:
        with pytest.raises(DomainError) as refused:
            await refunds.refund_payment(deps, "root", command)
        assert refused.value.code is code, command
    assert await scalar(deps, "SELECT count(*) FROM refunds") == 1
