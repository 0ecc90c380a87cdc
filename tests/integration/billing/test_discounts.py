"""Coupons and promotion codes on real PostgreSQL: discounts on the invoices they cover
(checkout, the trial's conversion, renewals, upgrades), exact redemption limits under
concurrency, and every refusal typed and harmless."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jsonschema
import pytest

from services.collection import scheduler
from services.common.errors import DomainError, ErrorCode
from services.discounts import coupons, redemption
from services.discounts.rules import Duration
from services.subscriptions import checkout, plan_changes
from tests.conftest import scalar
from tests.integration.messaging.test_events import schema
from tests.integration.subscriptions.test_checkout import used_trial


async def _code(deps, code: str, **coupon: object) -> None:  # type: ignore[no-untyped-def]
    promo_limit = coupon.pop("code_limit", None)
    first_time = bool(coupon.pop("first_time_only", False))
    defaults: dict[str, object] = {"name": f"{code} offer", "duration": Duration.ONCE}
    await coupons.create_coupon(
        deps, coupons.CreateCoupon(code=f"C-{code}", **{**defaults, **coupon})
    )  # type: ignore[arg-type]
    await coupons.create_promotion_code(
        deps,
        coupons.CreatePromotionCode(
            f"C-{code}",
            code,
            max_redemptions=promo_limit,
            first_time_only=first_time,  # type: ignore[arg-type]
        ),
    )


async def _lines(deps, user: str) -> list[list[object]]:  # type: ignore[no-untyped-def]
    found = await scalar(
        deps,
        "SELECT json_agg(json_build_array(i.number, l.kind, l.amount_cents)"
        " ORDER BY i.number, l.position)"
        " FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.user_id = :u",
        u=user,
    )
    return found or []


async def test_a_code_at_checkout_discounts_the_first_payment_half_up(deps):
    await _code(deps, "SAVE20", percent_off=20)
    await used_trial(deps, "ana")
    paid = await checkout.subscribe(
        deps, checkout.Subscribe("ana", "premium", "pm_card_visa", promotion_code="save20")
    )
    assert paid.payment is not None and paid.payment.amount_cents == 799  # 999 - 199.8 -> 200
    assert [(k, a) for _, k, a in await _lines(deps, "ana")] == [
        ("SUBSCRIPTION", 999),
        ("DISCOUNT", -200),
    ]
    envelope = await scalar(
        deps, "SELECT envelope FROM outbox WHERE event_type = 'coupon.redeemed'"
    )
    jsonschema.validate(envelope, schema("coupon.redeemed"))
    assert envelope["data"]["promotionCode"] == "SAVE20"


async def test_a_repeating_coupon_covers_its_cycles_from_the_trials_conversion(deps, clock):
    await _code(
        deps,
        "TWO",
        amount_off_cents=300,
        currency="USD",
        duration=Duration.REPEATING,
        duration_in_cycles=2,
    )
    await checkout.subscribe(
        deps, checkout.Subscribe("bea", "premium", "pm_card_visa", promotion_code="TWO")
    )
    for _ in range(3):  # the conversion, then two renewals
        clock.advance(timedelta(days=31))
        await scheduler.run_due_work(deps)
    totals = await scalar(
        deps,
        "SELECT json_agg(total_cents ORDER BY number) FROM invoices WHERE user_id = 'bea'",
    )
    assert totals == [699, 699, 999]
    assert await redemption.discount_of(deps, await _subscription_id(deps, "bea")) is None


async def _subscription_id(deps, user: str):  # type: ignore[no-untyped-def]
    return await scalar(deps, "SELECT id FROM subscriptions WHERE user_id = :u", u=user)


async def test_a_hundred_parallel_redemptions_of_a_code_limited_to_ten(deps):
    await _code(deps, "TEN", percent_off=50, code_limit=10)
    users = [f"racer{n}" for n in range(100)]

    async def attempt(user: str) -> ErrorCode | None:
        try:
            await checkout.subscribe(
                deps, checkout.Subscribe(user, "premium", "pm_card_visa", promotion_code="TEN")
            )
        except DomainError as error:
            return error.code
        return None

    outcomes = await asyncio.gather(*(attempt(u) for u in users))
    assert outcomes.count(None) == 10
    assert set(outcomes) - {None} == {ErrorCode.PROMOTION_CODE_EXHAUSTED}
    assert await scalar(deps, "SELECT times_redeemed FROM promotion_codes") == 10
    assert await scalar(deps, "SELECT count(*) FROM subscriptions") == 10  # refusals left none
    assert await scalar(deps, "SELECT count(*) FROM subscription_discounts") == 10


async def test_codes_applied_later_discount_renewals_and_upgrade_prorations(deps, clock):
    await _code(deps, "LATER", percent_off=10, duration=Duration.FOREVER)
    await used_trial(deps, "cal")
    await checkout.subscribe(deps, checkout.Subscribe("cal", "ad-free", "pm_card_visa"))
    applied = await checkout.apply_promotion_code(deps, "cal", "later")
    assert applied.coupon_code == "C-LATER" and applied.cycles_left is None
    clock.advance(timedelta(days=10))
    preview = await plan_changes.preview(deps, "cal", "premium")
    result = await plan_changes.upgrade(deps, plan_changes.Upgrade("cal", "premium"))
    assert result.payment is not None and result.payment.amount_cents == preview.amount_due_cents
    assert [line.kind.value for line in preview.lines][-1] == "DISCOUNT"
    clock.advance(timedelta(days=25))
    await scheduler.run_due_work(deps)
    renewal = await scalar(
        deps,
        "SELECT total_cents FROM invoices WHERE user_id = 'cal' ORDER BY number DESC LIMIT 1",
    )
    assert renewal == 999 - 100  # 10% of 999 is 99.9: 100


async def test_previews_show_the_discount_and_refusals_change_nothing(deps, clock):
    await _code(deps, "HALF", percent_off=50)
    await _code(deps, "ADFREEONLY", percent_off=30, applies_to_plans=("ad-free",))
    await _code(deps, "EUROS", amount_off_cents=100, currency="EUR")
    await _code(deps, "NEWBIES", percent_off=40, first_time_only=True)
    preview = await checkout.preview_subscribe(deps, "dan", "premium", "half")
    assert (preview.trial_days, preview.amount_due_now_cents, preview.first_charge_cents) == (
        14,
        0,
        499,
    )
    await used_trial(deps, "eli")
    await checkout.subscribe(deps, checkout.Subscribe("eli", "premium", "pm_card_visa"))
    refusals = {
        "NOPE": ErrorCode.PROMOTION_CODE_INVALID,
        "ADFREEONLY": ErrorCode.COUPON_NOT_APPLICABLE,
        "EUROS": ErrorCode.COUPON_NOT_APPLICABLE,
        "NEWBIES": ErrorCode.COUPON_NOT_APPLICABLE,  # eli has paid before
        "bad code!": ErrorCode.PROMOTION_CODE_INVALID,
    }
    for code, expected in refusals.items():
        with pytest.raises(DomainError) as refused:
            await checkout.apply_promotion_code(deps, "eli", code)
        assert refused.value.code is expected, code
    await coupons.archive_coupon(deps, "C-HALF")
    with pytest.raises(DomainError) as archived:
        await checkout.apply_promotion_code(deps, "eli", "HALF")
    assert archived.value.code is ErrorCode.PROMOTION_CODE_INVALID
    await coupons.create_promotion_code(
        deps,
        coupons.CreatePromotionCode("C-EUROS", "SOON", expires_at=clock.now() + timedelta(days=1)),
    )
    clock.advance(timedelta(days=2))
    with pytest.raises(DomainError) as expired:
        await checkout.preview_subscribe(deps, "fay", "premium", "SOON")
    assert expired.value.code is ErrorCode.PROMOTION_CODE_EXPIRED
    assert await scalar(deps, "SELECT count(*) FROM subscription_discounts") == 0
    assert await scalar(deps, "SELECT sum(times_redeemed) FROM promotion_codes") == 0


async def test_bad_coupons_are_refused(deps):
    bad = [
        ({"percent_off": 0}, ErrorCode.INVALID_INPUT),
        ({"percent_off": 101}, ErrorCode.INVALID_INPUT),
        ({"percent_off": 10, "amount_off_cents": 100, "currency": "USD"}, ErrorCode.INVALID_INPUT),
        ({}, ErrorCode.INVALID_INPUT),
        ({"amount_off_cents": 100}, ErrorCode.INVALID_INPUT),  # no currency
        ({"percent_off": 10, "duration": Duration.REPEATING}, ErrorCode.INVALID_INPUT),
        ({"percent_off": 10, "duration_in_cycles": 3}, ErrorCode.INVALID_INPUT),
        ({"percent_off": 10, "applies_to_plans": ("nope",)}, ErrorCode.PLAN_NOT_FOUND),
        ({"percent_off": 10, "currency": "XXX"}, ErrorCode.UNSUPPORTED_CURRENCY),
    ]
    for n, (fields, code) in enumerate(bad):
        command = coupons.CreateCoupon(
            code=f"BAD{n}",
            name="bad",
            **{"duration": Duration.ONCE, **fields},  # type: ignore[arg-type]
        )
        with pytest.raises(DomainError) as refused:
            await coupons.create_coupon(deps, command)
        assert refused.value.code is code, fields
    await coupons.create_coupon(deps, coupons.CreateCoupon("GOOD", "good", Duration.ONCE, 5))
    with pytest.raises(DomainError) as taken:
        await coupons.create_coupon(deps, coupons.CreateCoupon("good", "again", Duration.ONCE, 5))
    assert taken.value.code is ErrorCode.COUPON_CODE_TAKEN
    with pytest.raises(DomainError) as missing:
        await coupons.create_promotion_code(deps, coupons.CreatePromotionCode("NOPE", "X1"))
    assert missing.value.code is ErrorCode.COUPON_NOT_FOUND
    assert await scalar(deps, "SELECT count(*) FROM coupons") == 1


async def test_a_discount_that_ran_its_course_stays_as_the_record_of_its_redemption(deps, clock):
    await _code(deps, "FIRST", percent_off=10)
    await _code(deps, "NEXT", percent_off=50)
    await used_trial(deps, "gus")
    await checkout.subscribe(
        deps, checkout.Subscribe("gus", "premium", "pm_card_visa", promotion_code="FIRST")
    )
    assert [(k, a) for _, k, a in await _lines(deps, "gus")] == [
        ("SUBSCRIPTION", 999),
        ("DISCOUNT", -100),
    ]  # the ONCE coupon covered the first payment: the next code is welcome
    view = await checkout.apply_promotion_code(deps, "gus", "NEXT")
    assert view.percent_off == 50
    with pytest.raises(DomainError) as live:  # one live discount at a time
        await checkout.apply_promotion_code(deps, "gus", "FIRST")
    assert live.value.code is ErrorCode.COUPON_NOT_APPLICABLE
    rows = await scalar(
        deps,
        "SELECT json_agg(json_build_array(c.code, d.cycles_left) ORDER BY d.started_at, c.code)"
        " FROM subscription_discounts d JOIN coupons c ON c.id = d.coupon_id",
    )
    assert rows == [["C-FIRST", 0], ["C-NEXT", 1]]
    assert await scalar(deps, "SELECT sum(times_redeemed) FROM promotion_codes") == 2
