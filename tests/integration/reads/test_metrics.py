"""The console's key figures on real PostgreSQL, against amounts worked out here."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.collection import scheduler
from services.common.errors import DomainError, ErrorCode
from services.reads.metrics import metrics
from services.store.metrics import MONTH_SECONDS
from services.subscriptions import checkout, interruptions
from tests.integration.subscriptions.test_checkout import used_trial


def monthly(amount: int, days: int) -> int:
    return round(amount * MONTH_SECONDS / (days * 86400))


async def test_mrr_movement_statuses_trials_and_the_series(deps, clock):
    start = clock.now()
    await used_trial(deps, "ann")
    await checkout.subscribe(deps, checkout.Subscribe("ann", "premium", "pm_card_visa"))
    await used_trial(deps, "ben")
    await checkout.subscribe(deps, checkout.Subscribe("ben", "ad-free", "pm_card_visa"))
    await checkout.subscribe(deps, checkout.Subscribe("cat", "premium", "pm_card_visa"))  # trial
    clock.advance(timedelta(hours=1))
    await interruptions.cancel(deps, interruptions.CancelSubscription("ben", at_period_end=False))
    days = await _period_days(deps, "ann")
    found = await metrics(deps, start - timedelta(days=1), clock.now() + timedelta(days=1))
    ann = monthly(999, days)
    assert (found.mrr_cents, found.new_mrr_cents, found.churned_mrr_cents) == (ann, ann, 0)
    assert dict(found.by_status) == {"ACTIVE": 1, "TRIALING": 1}
    assert dict(found.by_plan) == {"premium": 2}
    assert found.series[-1].mrr_cents == ann and found.series[-1].active_subscriptions == 1
    assert found.series[0].mrr_cents == 0
    # cat's trial converts; a month later ann renews and cat has paid: expansion-free growth.
    clock.advance(timedelta(days=14))
    await scheduler.run_due_work(deps)
    later = await metrics(deps, start, clock.now() + timedelta(days=1))
    assert (later.trials_ended, later.trials_converted, later.trial_conversion_rate) == (
        3,
        1,
        1 / 3,
    )
    assert later.past_due_cents == 0
    with pytest.raises(DomainError) as backwards:
        await metrics(deps, clock.now(), start)
    assert backwards.value.code is ErrorCode.INVALID_INPUT


async def _period_days(deps, user: str) -> int:  # type: ignore[no-untyped-def]
    from tests.conftest import scalar

    seconds = await scalar(
        deps,
        "SELECT extract(epoch FROM current_period_end - current_period_start)::int"
        " FROM subscriptions WHERE user_id = :u AND is_current",
        u=user,
    )
    return int(seconds) // 86400
