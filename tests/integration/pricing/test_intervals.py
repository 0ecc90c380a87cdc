"""Plans that renew every 2 weeks and every 3 months, on real PostgreSQL over the test
clock: renewals land on the right days across month ends and a leap year, through the
scheduler (trial conversion and plain renewals), and the plan reads back its interval."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.collection import scheduler
from services.common.errors import DomainError, ErrorCode
from services.pricing import catalog
from services.pricing.periods import Interval
from services.reads import queries
from services.subscriptions import checkout
from tests.conftest import scalar


def plan(code: str, interval: Interval, count: int, rank: int) -> catalog.CreatePlan:
    return catalog.CreatePlan(
        code=code,
        name=code,
        price_cents=300,
        currency="USD",
        interval=interval,
        tier_rank=rank,
        trial_days=0,
        interval_count=count,
    )


async def renewal_days(deps, user: str) -> list[str]:  # type: ignore[no-untyped-def]
    found = await scalar(
        deps,
        "SELECT json_agg(to_char(period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        " ORDER BY period_start) FROM payments WHERE owner_id = :u AND purpose = 'RENEWAL'",
        u=user,
    )
    return list(found or [])  # type: ignore[call-overload]


async def test_two_week_and_quarterly_plans_renew_on_their_days(deps, clock):
    await catalog.create_plan(deps, "root", plan("fortnight", Interval.WEEK, 2, 50))
    await catalog.create_plan(deps, "root", plan("quarterly", Interval.MONTH, 3, 51))
    clock.moment = datetime(2028, 2, 15, 8, tzinfo=UTC)  # 2028 is a leap year
    await checkout.subscribe(deps, checkout.Subscribe("fort", "fortnight", "pm_card_visa"))
    clock.moment = datetime(2027, 11, 30, 8, tzinfo=UTC)
    await checkout.subscribe(deps, checkout.Subscribe("quart", "quarterly", "pm_card_visa"))
    for user, count in (("quart", 4), ("fort", 4)):
        for _ in range(count):
            view = await queries.subscription_of(deps, user)
            assert view is not None and view.current_period_end is not None
            clock.moment = max(clock.moment, view.current_period_end)
            await scheduler.run_due_work(deps)
    assert await renewal_days(deps, "quart") == [
        "2028-02-29",
        "2028-05-30",
        "2028-08-30",
        "2028-11-30",
    ]
    fort = await renewal_days(deps, "fort")
    assert fort[:3] == ["2028-02-29", "2028-03-14", "2028-03-28"]
    shown = await catalog.get_plan(deps, "quarterly")
    assert shown is not None and (shown.interval, shown.interval_count) == (Interval.MONTH, 3)


async def test_an_interval_count_out_of_range_is_refused(deps):
    for count in (0, 37):
        with pytest.raises(DomainError) as refused:
            await catalog.create_plan(deps, "root", plan(f"bad{count}", Interval.WEEK, count, 60))
        assert (refused.value.code, refused.value.field) == (
            ErrorCode.INVALID_INPUT,
            "intervalCount",
        )
