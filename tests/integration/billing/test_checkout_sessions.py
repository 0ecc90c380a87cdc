"""Hosted checkout with the local gateway: a link to our own page, completed once per
card, only by its owner, before it expires."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.collection import checkout_sessions as sessions
from services.common.errors import DomainError, ErrorCode
from tests.conftest import scalar
from tests.integration.subscriptions.test_checkout import used_trial

OK, BACK = "https://app.example/done", "https://app.example/plans"


async def test_a_session_completes_once_for_its_owner(deps):
    await used_trial(deps, "lia")
    made = await sessions.create_checkout_session(
        deps, sessions.CreateCheckoutSession("lia", "premium", OK, BACK)
    )
    assert made.url == f"/checkout/{made.id}" and made.status == "OPEN"
    with pytest.raises(DomainError) as not_yours:
        await sessions.checkout_session(deps, "mo", str(made.id))
    assert not_yours.value.code is ErrorCode.NOT_FOUND
    declined = await sessions.complete_checkout_session(
        deps, "lia", str(made.id), "pm_card_chargeDeclined"
    )
    assert declined.redirect_url is None
    assert [e.code for e in declined.outcome.errors] == [ErrorCode.PAYMENT_DECLINED]
    paid = await sessions.complete_checkout_session(deps, "lia", str(made.id), "pm_card_visa")
    again = await sessions.complete_checkout_session(deps, "lia", str(made.id), "pm_card_visa")
    assert paid.redirect_url == again.redirect_url == OK
    charges = await scalar(
        deps, "SELECT count(*) FROM payments WHERE owner_id = 'lia' AND status_literal = 'success'"
    )
    assert charges == 1
    assert (await sessions.checkout_session(deps, "lia", str(made.id))).status == "COMPLETED"


async def test_bad_links_and_expired_sessions_are_refused(deps, clock):
    for ok, back in (("javascript:alert(1)", BACK), (OK, "/relative")):
        with pytest.raises(DomainError) as bad:
            await sessions.create_checkout_session(
                deps, sessions.CreateCheckoutSession("ned", "premium", ok, back)
            )
        assert bad.value.code is ErrorCode.INVALID_INPUT
    with pytest.raises(DomainError) as quota_plan:
        await sessions.create_checkout_session(
            deps, sessions.CreateCheckoutSession("ned", "nope", OK, BACK)
        )
    assert quota_plan.value.code is ErrorCode.PLAN_NOT_FOUND
    made = await sessions.create_checkout_session(
        deps, sessions.CreateCheckoutSession("ned", "premium", OK, BACK)
    )
    clock.advance(timedelta(days=2))
    assert (await sessions.checkout_session(deps, "ned", str(made.id))).status == "EXPIRED"
    with pytest.raises(DomainError) as expired:
        await sessions.complete_checkout_session(deps, "ned", str(made.id), "pm_card_visa")
    assert expired.value.code is ErrorCode.INVALID_TRANSITION
    assert await scalar(deps, "SELECT count(*) FROM subscriptions WHERE user_id = 'ned'") == 0
