"""Money invariants over random sequences of subscribe / upgrade / downgrade / renew /
refund / credit / pause on the test clock and real PostgreSQL (hypothesis). After every
step: each invoice's lines add up to its total; nothing is refunded past what was paid;
no credit balance is negative and the ledger agrees with it; no coupon discounts more
invoices than its duration; no code is redeemed past its limit."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.billing import scheduler
from services.common.errors import DomainError
from services.credits import ledger, refunds
from services.discounts import coupons
from services.discounts.rules import Duration
from services.subscriptions import cancellation, checkout, plan_changes
from tests.conftest import scalar

ACTIONS = st.sampled_from(
    [
        "subscribe",
        "subscribe_with_code",
        "upgrade",
        "downgrade",
        "renew",
        "refund",
        "refund_to_balance",
        "credit",
        "take_credit",
        "pause",
        "resume",
        "cancel_now",
        "apply_code",
    ]
)
STEPS = st.lists(st.tuples(ACTIONS, st.integers(1, 40)), min_size=1, max_size=10)
EXAMPLES = {"count": 0, "applied": 0, "refused": 0}  # reported by the closing note


async def _codes(deps) -> None:  # type: ignore[no-untyped-def]
    """Two limited codes, made once for the whole run."""
    if await scalar(deps, "SELECT count(*) FROM coupons") == 0:
        await coupons.create_coupon(
            deps,
            coupons.CreateCoupon(
                "P-TWO", "two cycles", Duration.REPEATING, percent_off=25, duration_in_cycles=2
            ),
        )
        await coupons.create_promotion_code(
            deps, coupons.CreatePromotionCode("P-TWO", "TWOCYCLES", max_redemptions=6)
        )
        await coupons.create_coupon(
            deps,
            coupons.CreateCoupon(
                "A-ONCE", "once", Duration.ONCE, amount_off_cents=700, currency="USD"
            ),
        )
        await coupons.create_promotion_code(
            deps, coupons.CreatePromotionCode("A-ONCE", "ONCE700", max_redemptions=4)
        )


async def _act(deps, clock, user: str, action: str, n: int) -> None:  # type: ignore[no-untyped-def]
    code = "TWOCYCLES" if n % 2 else "ONCE700"
    if action == "subscribe":
        await checkout.subscribe(deps, checkout.Subscribe(user, "premium", "pm_card_visa"))
    elif action == "subscribe_with_code":
        await checkout.subscribe(
            deps, checkout.Subscribe(user, "ad-free", "pm_card_visa", promotion_code=code)
        )
    elif action == "upgrade":
        await plan_changes.upgrade(deps, plan_changes.Upgrade(user, "premium"))
    elif action == "downgrade":
        await plan_changes.downgrade(deps, plan_changes.Downgrade(user, "ad-free"))
    elif action == "renew":
        clock.advance(timedelta(days=n))
        await scheduler.run_due_work(deps)
    elif action in ("refund", "refund_to_balance"):
        paid = await scalar(
            deps,
            "SELECT id::text FROM payments WHERE owner_id = :u AND status_literal = 'success'"
            " AND amount_cents > 0 ORDER BY created_at DESC LIMIT 1",
            u=user,
        )
        if paid:
            command = refunds.RefundPayment(
                str(paid), "property", n * 10, to_credit_balance=action == "refund_to_balance"
            )
            await refunds.refund_payment(deps, "root", command)
    elif action in ("credit", "take_credit"):
        amount = n * 25 if action == "credit" else -n * 25
        await ledger.adjust_credit(deps, "root", ledger.AdjustCredit(user, amount, "USD", "p"))
    elif action == "pause":
        await cancellation.pause(deps, user, clock.now() + timedelta(days=n))
    elif action == "resume":
        await cancellation.resume(deps, user)
    elif action == "cancel_now":
        await cancellation.cancel(deps, cancellation.CancelSubscription(user, at_period_end=False))
    else:
        from services.discounts import redemption

        await redemption.apply_promotion_code(deps, user, code)


async def check_money_invariants(deps) -> None:  # type: ignore[no-untyped-def]
    unbalanced = await scalar(
        deps,
        "SELECT count(*) FROM invoices i WHERE i.total_cents <>"
        " (SELECT coalesce(sum(amount_cents), 0) FROM invoice_lines l WHERE l.invoice_id = i.id)",
    )
    assert unbalanced == 0, "an invoice's lines do not add up to its total"
    over_refunded = await scalar(
        deps,
        "SELECT count(*) FROM payments p WHERE p.amount_cents < (SELECT coalesce(sum(amount_cents),"
        " 0) FROM refunds r WHERE r.payment_id = p.id AND r.status <> 'FAILED')"
        " OR EXISTS (SELECT 1 FROM invoices i WHERE i.id = p.invoice_id"
        " AND i.amount_paid_cents - i.amount_refunded_cents < 0)",
    )
    assert over_refunded == 0, "refunded past what was paid"
    ledger_drift = await scalar(
        deps,
        "SELECT count(*) FROM credit_balances b WHERE b.balance_cents < 0 OR b.balance_cents <>"
        " coalesce((SELECT balance_after_cents FROM credit_ledger e WHERE e.user_id = b.user_id"
        " ORDER BY id DESC LIMIT 1), 0)",
    )
    assert ledger_drift == 0, "a credit balance is negative or disagrees with its ledger"
    past_cycles = await scalar(
        deps,
        # a subscription's DISCOUNT lines never outnumber the cycles its redemptions gave
        "SELECT count(*) FROM (SELECT d.subscription_id, sum(CASE c.duration WHEN 'ONCE'"
        " THEN 1 WHEN 'REPEATING' THEN c.duration_in_cycles ELSE 1000000 END) AS cycles"
        " FROM subscription_discounts d JOIN coupons c ON c.id = d.coupon_id"
        " GROUP BY d.subscription_id) s WHERE (SELECT count(*) FROM invoices i"
        " JOIN invoice_lines l ON l.invoice_id = i.id"
        " WHERE i.subscription_id = s.subscription_id AND l.kind = 'DISCOUNT') > s.cycles",
    )
    assert past_cycles == 0, "a coupon discounted more invoices than its duration"
    over_redeemed = await scalar(
        deps,
        "SELECT count(*) FROM promotion_codes p WHERE p.times_redeemed > p.max_redemptions"
        " OR p.times_redeemed <> (SELECT count(*) FROM subscription_discounts d"
        " WHERE d.promotion_code_id = p.id)",
    )
    assert over_redeemed == 0, "a code was redeemed past its limit or miscounted"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
async def test_random_money_sequences_keep_every_invariant(deps, clock, steps):
    await _codes(deps)
    EXAMPLES["count"] += 1
    user = f"prop-{uuid.uuid4().hex[:8]}"  # examples share the database, not users
    for action, n in steps:
        try:
            await _act(deps, clock, user, action, n)
            EXAMPLES["applied"] += 1
        except DomainError:
            EXAMPLES["refused"] += 1  # nothing may have changed: the invariants check it
        await check_money_invariants(deps)


def test_zz_report_how_much_was_exercised():  # runs after the property (file order)
    print(f"money properties: {EXAMPLES}")
    # about two steps in five apply (the rest are refused); half an applied step per
    # example is far below that yet fails a run whose steps were all refused
    assert EXAMPLES["count"] == 0 or EXAMPLES["applied"] >= EXAMPLES["count"] // 2
