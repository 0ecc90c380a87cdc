"""The console's key figures on real PostgreSQL, against amounts worked out here."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.collection import scheduler
from services.common.errors import DomainError, ErrorCode
from services.pricing import catalog, policy_admin
from services.pricing.periods import Interval
from services.pricing.policy import ChangeTiming, Proration
from services.reads.metrics import metrics
from services.subscriptions import checkout, interruptions, plan_changes
from tests.integration.subscriptions.test_checkout import used_trial


async def test_mrr_movement_statuses_trials_and_the_series(deps, clock):
    start = clock.now()
    await used_trial(deps, "ann")
    await checkout.subscribe(deps, checkout.Subscribe("ann", "premium", "pm_card_visa"))
    await used_trial(deps, "ben")
    await checkout.subscribe(deps, checkout.Subscribe("ben", "ad-free", "pm_card_visa"))
    await checkout.subscribe(deps, checkout.Subscribe("cat", "premium", "pm_card_visa"))  # trial
    clock.advance(timedelta(hours=1))
    await interruptions.cancel(deps, interruptions.CancelSubscription("ben", at_period_end=False))
    found = await metrics(deps, start - timedelta(days=1), clock.now() + timedelta(days=1))
    ann = 999  # a monthly plan's MRR is its price, whatever the month's length
    assert found.to == clock.now()  # as of now, never a moment after the service's clock
    assert (found.mrr_cents, found.new_mrr_cents, found.churned_mrr_cents) == (ann, ann, 0)
    assert dict(found.by_status) == {"ACTIVE": 1, "TRIALING": 1}
    assert dict(found.by_plan) == {"premium": 1}  # paying: cat's trial is not
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


async def test_mrr_is_the_normalized_price_as_of_the_service_clock(deps, clock):
    """Worked by hand: three subscribers of a 10.00 monthly plan and one of a 120.00
    yearly plan make 30.00 + 10.00 = 40.00 of MRR, in a 31-day month as in any, 10.00
    a paying subscription (ARPU); one cancelling at period end leaves 30.00 committed,
    and once it ended: 10.00 churned, one of four paying subscriptions (25%)."""
    for code, price, interval, rank in (("ten", 1000, "MONTH", 70), ("year", 12000, "YEAR", 71)):
        await catalog.create_plan(
            deps,
            "root",
            catalog.CreatePlan(code, code, price, "USD", Interval(interval), rank, trial_days=0),
        )
    clock.moment = clock.moment.replace(month=3, day=1)  # March: 31 days
    start = clock.now()
    for user in ("t1", "t2", "t3"):
        await checkout.subscribe(deps, checkout.Subscribe(user, "ten", "pm_card_visa"))
    await checkout.subscribe(deps, checkout.Subscribe("y1", "year", "pm_card_visa"))
    clock.advance(timedelta(days=2))
    found = await metrics(deps, None, None)
    assert found.mrr_cents == 3 * 1000 + 12000 // 12 == 4000
    assert found.to == clock.now() and found.from_ == clock.now() - timedelta(days=30)
    assert dict(found.by_plan) == {"ten": 3, "year": 1}
    assert (found.paying, found.arpu_cents, found.committed_mrr_cents) == (4, 1000, 4000)
    # t3 cancels at period end: still paying now, no longer committed.
    await interruptions.cancel(deps, interruptions.CancelSubscription("t3", at_period_end=True))
    leaving = await metrics(deps, None, None)
    assert (leaving.mrr_cents, leaving.committed_mrr_cents) == (4000, 3000)
    # Asked as of a moment after now (the console's old default): still as of now.
    ahead = await metrics(deps, start, clock.now() + timedelta(days=40))
    assert ahead.mrr_cents == 4000 and ahead.to == clock.now()
    # A month on: the monthly ones renewed but t3, whose period ended; the yearly one
    # runs on. Paying at the start of the default range (30 days back): 4; now 3.
    clock.advance(timedelta(days=30))
    await scheduler.run_due_work(deps)
    renewed = await metrics(deps, None, None)
    assert (renewed.mrr_cents, renewed.new_mrr_cents, renewed.churned_mrr_cents) == (3000, 0, 1000)
    assert (renewed.paying, renewed.churned, renewed.churn_rate) == (3, 1, 0.25)
    assert renewed.arpu_cents == 1000 and renewed.committed_mrr_cents == 3000
    before = await metrics(deps, start - timedelta(days=5), start - timedelta(seconds=1))
    assert dict(before.by_status) == {} and before.mrr_cents == 0
    assert before.churn_rate is None and before.arpu_cents is None


async def ten_and_twenty(deps) -> None:  # type: ignore[no-untyped-def]
    """Two monthly plans without a trial: 10.00 and 20.00."""
    for code, price, rank in (("ten", 1000, 70), ("twenty", 2000, 71)):
        await catalog.create_plan(
            deps,
            "root",
            catalog.CreatePlan(code, code, price, "USD", Interval.MONTH, rank, trial_days=0),
        )


async def test_a_paused_subscription_stays_in_mrr_and_is_not_churn(deps, clock):
    """Worked by hand: one 10.00 monthly subscriber pauses on day 10 for 60 days. Its
    paid month ends on day 30, then the pause runs: MRR stays 10.00 throughout, nothing
    is churned, and it is one paying subscription; once resumed, billing restarts."""
    await ten_and_twenty(deps)
    start = clock.now()
    await checkout.subscribe(deps, checkout.Subscribe("pia", "ten", "pm_card_visa"))
    clock.advance(timedelta(days=10))
    await interruptions.pause(deps, "pia", clock.now() + timedelta(days=60))
    clock.advance(timedelta(days=40))  # past the paid month: paused, no line covers now
    paused = await metrics(deps, start + timedelta(hours=1), None)
    assert (paused.mrr_cents, paused.churned_mrr_cents, paused.churn_rate) == (1000, 0, 0.0)
    assert (paused.paying, dict(paused.by_status)) == (1, {"PAUSED": 1})
    assert all(point.mrr_cents == 1000 for point in paused.series[1:])
    clock.advance(timedelta(days=25))  # resumed on day 70: the new period is charged
    await scheduler.run_due_work(deps)
    resumed = await metrics(deps, start + timedelta(hours=1), None)
    assert (resumed.mrr_cents, resumed.churned_mrr_cents, resumed.paying) == (1000, 0, 1)


async def test_an_upgrade_expands_mrr_from_the_change_a_downgrade_when_it_applies(deps, clock):
    """Worked by hand: one 10.00 and one 20.00 monthly subscriber in March (31 days). On
    the 11th the first upgrades to 20.00, charged 13.55 for the 21 days left (its full
    monthly amount is 13.55 x 31 / 21 = 20.00), and the second asks for 10.00 at period
    end (the default policy): MRR 40.00 now, 10.00 of it expansion. At April's renewals
    the downgrade takes effect: MRR 30.00, 10.00 expansion and 10.00 contraction since
    March 1st, nobody new and nobody churned."""
    await ten_and_twenty(deps)
    clock.moment = clock.moment.replace(month=3, day=1)
    start = clock.now() + timedelta(hours=1)
    await checkout.subscribe(deps, checkout.Subscribe("up", "ten", "pm_card_visa"))
    await checkout.subscribe(deps, checkout.Subscribe("down", "twenty", "pm_card_visa"))
    clock.advance(timedelta(days=10))
    await plan_changes.upgrade(deps, plan_changes.Upgrade("up", "twenty"))
    await plan_changes.downgrade(deps, plan_changes.Downgrade("down", "ten"))
    changed = await metrics(deps, start, None)
    moved = (changed.expansion_mrr_cents, changed.contraction_mrr_cents)
    assert (changed.mrr_cents, *moved) == (4000, 1000, 0)
    assert dict(changed.by_plan) == {"twenty": 2}  # the upgrade counts from the change
    clock.moment = clock.moment.replace(month=4, day=1)
    await scheduler.run_due_work(deps)
    clock.advance(timedelta(days=1))
    renewed = await metrics(deps, start, None)
    assert (
        renewed.mrr_cents,
        renewed.expansion_mrr_cents,
        renewed.contraction_mrr_cents,
        renewed.new_mrr_cents,
        renewed.churned_mrr_cents,
    ) == (3000, 1000, 1000, 0, 0)


async def test_a_new_period_bought_now_replaces_the_old_one_in_mrr(deps, clock):
    """FULL_PERIOD: an upgrade from 10.00 on the 11th buys a whole new 20.00 month from
    then. The old month's invoice is superseded there: 20.00 of MRR, not 30.00."""
    await ten_and_twenty(deps)
    await policy_admin.set_plan_policy(
        deps, policy_admin.SetPlanPolicy("ten", proration=Proration.FULL_PERIOD)
    )
    clock.moment = clock.moment.replace(month=3, day=1)
    start = clock.now() + timedelta(hours=1)
    await checkout.subscribe(deps, checkout.Subscribe("full", "ten", "pm_card_visa"))
    clock.advance(timedelta(days=10))
    await plan_changes.upgrade(deps, plan_changes.Upgrade("full", "twenty"))
    clock.advance(timedelta(days=1))
    found = await metrics(deps, start, None)
    assert (found.mrr_cents, found.expansion_mrr_cents, found.paying) == (2000, 1000, 1)


async def test_an_immediate_downgrade_is_no_churn(deps, clock):
    """A 20.00 subscriber downgrades now to 10.00 (IMMEDIATE, prorated: the difference
    goes to the balance): still paying, no churn, nothing new; the old month counts
    until the renewal bills 10.00, then 10.00 of contraction."""
    await ten_and_twenty(deps)
    await policy_admin.set_plan_policy(
        deps, policy_admin.SetPlanPolicy("twenty", downgrade_timing=ChangeTiming.IMMEDIATE)
    )
    clock.moment = clock.moment.replace(month=3, day=1)
    start = clock.now() + timedelta(hours=1)
    await checkout.subscribe(deps, checkout.Subscribe("dn", "twenty", "pm_card_visa"))
    clock.advance(timedelta(days=10))
    await plan_changes.downgrade(deps, plan_changes.Downgrade("dn", "ten"))
    clock.advance(timedelta(days=1))
    now = await metrics(deps, start, None)
    assert (now.mrr_cents, now.churned_mrr_cents, now.new_mrr_cents, now.paying) == (
        2000,
        0,
        0,
        1,
    )
    clock.moment = clock.moment.replace(month=4, day=1)
    await scheduler.run_due_work(deps)
    clock.advance(timedelta(days=1))
    renewed = await metrics(deps, start, None)
    assert (renewed.mrr_cents, renewed.contraction_mrr_cents, renewed.churned_mrr_cents) == (
        1000,
        1000,
        0,
    )
