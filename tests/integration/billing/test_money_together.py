"""Money operations tried together, as a customer and a support agent would: every
return is drawn against the invoice that paid for it, so no order of refunds,
cancellations, pauses and upgrades gives back more than was paid; one-time codes stay
one-time; credit spent on an invoice that is never paid comes back. Each scenario ends
with the whole-database audit holding (services/reads/audit.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.billing import payment_methods
from services.collection import scheduler
from services.common.errors import DomainError, ErrorCode
from services.credits import ledger, refunds
from services.discounts import coupons
from services.discounts.rules import Duration
from services.pricing import catalog
from services.pricing.periods import Interval
from services.reads.audit import violations
from services.subscriptions import checkout, interruptions, plan_changes
from services.subscriptions.lifecycle import Status
from tests.conftest import scalar

DAY = timedelta(days=1)


async def audit_holds(deps) -> None:  # type: ignore[no-untyped-def]
    assert [v.line() for v in await violations(deps.session_factory)] == []


async def create_plans(deps) -> None:  # type: ignore[no-untyped-def]
    """1000 and 2000 a month, no trial (made once per test session)."""
    for code, price, rank in (("m1000", 1000, 40), ("m2000", 2000, 41)):
        if await scalar(deps, "SELECT count(*) FROM plans WHERE code = :c", c=code) == 0:
            await catalog.create_plan(
                deps,
                "root",
                catalog.CreatePlan(
                    code=code,
                    name=f"Plan {price}",
                    price_cents=price,
                    currency="USD",
                    interval=Interval.MONTH,
                    tier_rank=rank,
                    trial_days=0,
                    entitlements=("ad_free",),
                ),
            )


async def paid_1000(deps, user: str) -> str:  # type: ignore[no-untyped-def]
    """A customer on the 1000-a-month plan, paid by card; returns the payment's id."""
    await create_plans(deps)
    result = await checkout.subscribe(deps, checkout.Subscribe(user, "m1000", "pm_card_visa"))
    assert result.payment is not None and result.payment.amount_cents == 1000
    assert result.payment.id is not None
    return str(result.payment.id)


async def refund_all(deps, payment_id: str, **kw: object) -> refunds.RefundView:  # type: ignore[no-untyped-def]
    return await refunds.refund_payment(
        deps,
        "root",
        refunds.RefundPayment(payment_id, "support", **kw),  # type: ignore[arg-type]
    )


async def returned(deps, user: str) -> int:  # type: ignore[no-untyped-def]
    """Everything given back to the customer: refunds and unused-time credit."""
    total = await scalar(
        deps,
        "SELECT (SELECT coalesce(sum(amount_cents), 0) FROM refunds WHERE user_id = :u"
        " AND status <> 'FAILED') + (SELECT coalesce(sum(amount_cents), 0) FROM credit_ledger"
        " WHERE user_id = :u AND kind = 'PRORATION')",
        u=user,
    )
    return int(total)  # type: ignore[call-overload]


async def half_way(deps, clock, user: str) -> None:  # type: ignore[no-untyped-def]
    """Move the clock to the middle of the user's current period."""
    seconds = await scalar(
        deps,
        "SELECT extract(epoch FROM current_period_end - current_period_start)::bigint"
        " FROM subscriptions WHERE user_id = :u AND is_current",
        u=user,
    )
    clock.advance(timedelta(seconds=int(seconds) // 2))  # type: ignore[call-overload]


def _cancel_now(user: str) -> interruptions.CancelSubscription:
    return interruptions.CancelSubscription(user, at_period_end=False)


async def test_a_full_refund_then_cancel_now_credits_no_unused_time(deps):
    payment = await paid_1000(deps, "mt-1")
    await refund_all(deps, payment)
    await interruptions.cancel(deps, _cancel_now("mt-1"))
    assert await ledger.balance_of(deps, "mt-1") == (0, None)
    assert await returned(deps, "mt-1") == 1000
    await audit_holds(deps)


async def test_cancel_now_then_a_refund_returns_only_what_the_credit_did_not(deps, clock):
    payment = await paid_1000(deps, "mt-2")
    await half_way(deps, clock, "mt-2")
    await interruptions.cancel(deps, _cancel_now("mt-2"))
    assert await ledger.balance_of(deps, "mt-2") == (500, "USD")
    with pytest.raises(DomainError) as refused:
        await refund_all(deps, payment, amount_cents=1000)
    assert refused.value.code is ErrorCode.REFUND_EXCEEDS_PAYMENT
    assert "at most 500" in refused.value.message and "unused time" in refused.value.message
    rest = await refund_all(deps, payment)  # everything still refundable
    assert rest.amount_cents == 500
    assert await returned(deps, "mt-2") == 1000
    notes = await scalar(
        deps,
        "SELECT json_agg(json_build_array(n.kind, n.amount_cents) ORDER BY n.number)"
        " FROM credit_notes n WHERE n.user_id = 'mt-2'",
    )
    assert notes == [["UNUSED_TIME", 500], ["REFUND", 500]]
    await audit_holds(deps)


async def test_cancel_now_at_once_leaves_nothing_to_refund(deps):
    payment = await paid_1000(deps, "mt-2b")
    await interruptions.cancel(deps, _cancel_now("mt-2b"))
    assert await ledger.balance_of(deps, "mt-2b") == (1000, "USD")
    with pytest.raises(DomainError) as refused:
        await refund_all(deps, payment)
    assert refused.value.code is ErrorCode.REFUND_EXCEEDS_PAYMENT
    assert await returned(deps, "mt-2b") == 1000
    await audit_holds(deps)


async def test_a_partial_refund_then_cancel_now_credits_the_unrefunded_part(deps, clock):
    payment = await paid_1000(deps, "mt-2c")
    await refund_all(deps, payment, amount_cents=300)
    await half_way(deps, clock, "mt-2c")
    await interruptions.cancel(deps, _cancel_now("mt-2c"))
    # Half of the 700 still paid for the month is unused.
    assert await ledger.balance_of(deps, "mt-2c") == (350, "USD")
    await audit_holds(deps)


async def test_a_full_refund_then_pause_and_resume_gives_no_free_month(deps, clock):
    payment = await paid_1000(deps, "mt-3")
    await refund_all(deps, payment)
    clock.advance(5 * DAY)
    await interruptions.pause(deps, "mt-3", clock.now() + 10 * DAY)
    assert await ledger.balance_of(deps, "mt-3") == (0, None)
    await interruptions.resume(deps, "mt-3")
    await scheduler.run_due_work(deps)
    renewal = await scalar(
        deps,
        "SELECT json_agg(json_build_array(l.kind, l.amount_cents) ORDER BY l.position)"
        " FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id"
        " JOIN payments p ON p.invoice_id = i.id"
        " WHERE i.user_id = 'mt-3' AND p.purpose = 'RENEWAL'",
    )
    assert renewal == [["SUBSCRIPTION", 1000]]
    await audit_holds(deps)


async def test_a_full_refund_then_upgrade_pays_the_new_plan_in_full(deps):
    payment = await paid_1000(deps, "mt-4")
    await refund_all(deps, payment)
    preview = await plan_changes.preview(deps, "mt-4", "m2000")
    upgraded = await plan_changes.upgrade(deps, plan_changes.Upgrade("mt-4", "m2000"))
    assert upgraded.payment is not None and upgraded.payment.amount_cents == 2000
    assert preview.amount_due_cents == 2000
    assert [(line.kind.value, line.amount_cents) for line in preview.lines] == [
        ("PRORATION_CREDIT", 0),
        ("PRORATION_CHARGE", 2000),
    ]
    await audit_holds(deps)


async def test_an_upgrade_credits_the_old_invoice_once_then_cancel_counts_the_new_one(deps, clock):
    await paid_1000(deps, "mt-4b")
    await half_way(deps, clock, "mt-4b")
    upgraded = await plan_changes.upgrade(deps, plan_changes.Upgrade("mt-4b", "m2000"))
    assert upgraded.payment is not None and upgraded.payment.amount_cents == 500  # 1000 - 500
    await interruptions.cancel(deps, _cancel_now("mt-4b"))
    # The upgrade's invoice paid 1000 (500 card + 500 moved over) for the half month left.
    assert await ledger.balance_of(deps, "mt-4b") == (1000, "USD")
    credited = await scalar(
        deps,
        "SELECT json_agg(json_build_array(i.total_cents, i.amount_credited_cents)"
        " ORDER BY i.number) FROM invoices i WHERE i.user_id = 'mt-4b'",
    )
    assert credited == [[1000, 500], [500, 1000]]
    await audit_holds(deps)


async def test_a_once_code_cannot_be_applied_again_after_it_ran_its_course(deps):
    await create_plans(deps)
    await coupons.create_coupon(
        deps, coupons.CreateCoupon("MT-ONCE", "once", Duration.ONCE, percent_off=50)
    )
    await coupons.create_promotion_code(deps, coupons.CreatePromotionCode("MT-ONCE", "MTHALF"))
    first = await checkout.subscribe(
        deps, checkout.Subscribe("mt-5", "m1000", "pm_card_visa", promotion_code="MTHALF")
    )
    assert first.payment is not None and first.payment.amount_cents == 500
    with pytest.raises(DomainError) as again:
        await checkout.apply_promotion_code(deps, "mt-5", "MTHALF")
    assert again.value.code is ErrorCode.COUPON_NOT_APPLICABLE
    await interruptions.cancel(deps, _cancel_now("mt-5"))
    with pytest.raises(DomainError) as resubscribed:
        await checkout.subscribe(
            deps, checkout.Subscribe("mt-5", "m1000", "pm_card_visa", promotion_code="MTHALF")
        )
    assert resubscribed.value.code is ErrorCode.COUPON_NOT_APPLICABLE
    assert await scalar(deps, "SELECT count(*) FROM subscriptions WHERE user_id = 'mt-5'") == 1
    await audit_holds(deps)


async def test_a_coupon_may_allow_more_than_one_redemption_per_customer(deps):
    await create_plans(deps)
    await coupons.create_coupon(
        deps,
        coupons.CreateCoupon(
            "MT-TWICE", "twice", Duration.ONCE, percent_off=10, max_redemptions_per_customer=2
        ),
    )
    await coupons.create_promotion_code(deps, coupons.CreatePromotionCode("MT-TWICE", "MTTWO"))
    await checkout.subscribe(
        deps, checkout.Subscribe("mt-5b", "m1000", "pm_card_visa", promotion_code="MTTWO")
    )
    await checkout.apply_promotion_code(deps, "mt-5b", "MTTWO")
    with pytest.raises(DomainError) as third:
        await checkout.apply_promotion_code(deps, "mt-5b", "MTTWO")
    assert third.value.code is ErrorCode.COUPON_NOT_APPLICABLE
    await audit_holds(deps)


async def test_a_first_time_code_is_refused_after_a_free_first_invoice(deps):
    await create_plans(deps)
    await coupons.create_coupon(
        deps,
        coupons.CreateCoupon(
            "MT-FREE",
            "free month",
            Duration.ONCE,
            percent_off=100,
            max_redemptions_per_customer=None,  # only first-time-only stands in the way
        ),
    )
    await coupons.create_promotion_code(
        deps, coupons.CreatePromotionCode("MT-FREE", "MTFIRST", first_time_only=True)
    )
    free = await checkout.subscribe(
        deps, checkout.Subscribe("mt-6", "m1000", "pm_card_visa", promotion_code="MTFIRST")
    )
    assert free.payment is not None and free.payment.amount_cents == 0
    await interruptions.cancel(deps, _cancel_now("mt-6"))
    with pytest.raises(DomainError) as again:
        await checkout.subscribe(
            deps, checkout.Subscribe("mt-6", "m1000", "pm_card_visa", promotion_code="MTFIRST")
        )
    assert again.value.code is ErrorCode.COUPON_NOT_APPLICABLE
    assert "first-time" in again.value.message
    await audit_holds(deps)


async def test_credit_spent_on_a_renewal_that_is_never_paid_comes_back_once(deps, clock):
    await paid_1000(deps, "mt-7")
    await ledger.adjust_credit(deps, "root", ledger.AdjustCredit("mt-7", 300, "USD", "goodwill"))
    declining = await payment_methods.add(
        deps, payment_methods.AddPaymentMethod("mt-7", "pm_card_chargeDeclined")
    )
    await payment_methods.set_default(deps, "mt-7", declining.id)
    clock.advance(31 * DAY)
    await scheduler.run_due_work(deps)  # 1000 - 300 credit = 700 declined: PAST_DUE
    assert await ledger.balance_of(deps, "mt-7") == (0, "USD")
    for _ in range(8):
        clock.advance(DAY)
        await scheduler.run_due_work(deps)
    status = await scalar(deps, "SELECT status FROM subscriptions WHERE user_id = 'mt-7'")
    assert status == Status.EXPIRED.value
    assert await ledger.balance_of(deps, "mt-7") == (300, "USD")
    kinds = await scalar(
        deps,
        "SELECT json_agg(json_build_array(kind, amount_cents) ORDER BY id)"
        " FROM credit_ledger WHERE user_id = 'mt-7'",
    )
    assert kinds == [["ADJUSTMENT", 300], ["APPLIED", -300], ["CREDIT_RESTORED", 300]]
    invoice_status = await scalar(
        deps,
        "SELECT status FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id"
        " WHERE i.user_id = 'mt-7' AND l.kind = 'CREDIT'",
    )
    assert invoice_status == "UNCOLLECTIBLE"
    await audit_holds(deps)


async def test_a_percent_coupon_with_a_currency_is_refused(deps):
    with pytest.raises(DomainError) as refused:
        await coupons.create_coupon(
            deps,
            coupons.CreateCoupon(
                "MT-EUR", "ten off", Duration.ONCE, percent_off=10, currency="EUR"
            ),
        )
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, "currency")
    assert await scalar(deps, "SELECT count(*) FROM coupons WHERE code = 'MT-EUR'") == 0
