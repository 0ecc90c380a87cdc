"""Key figures for the admin console, computed in SQL (one statement each, on asyncpg).

MRR is read from what was invoiced: every SUBSCRIPTION line (less its DISCOUNT) of a
paid or still-open invoice covers its period, normalized to a month by its plan's
interval (a monthly plan's price is its MRR whatever the month's length, a yearly one's
a twelfth, a weekly one's 52/12 by the average month); a subscription's MRR at a moment
is the sum of the lines covering that moment. Every figure is as of `to`, which is never
after the service's clock. Paying subscriptions per plan come from the same lines, so a
trial (no line) is not one. Movement between `from` and `to` compares each subscription's MRR at the
two moments: new (none before), expansion (more), contraction (less, but some), churn
(none after). Trials are not revenue: they appear in the status counts and the trial
conversion rate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from services.common.errors import DomainError, ErrorCode
from services.platform.deps import Deps
from services.store.operations import fetch_metrics

MAX_POINTS = 30
MAX_RANGE = timedelta(days=3660)


@dataclass(frozen=True)
class MetricsPoint:
    at: datetime
    mrr_cents: int
    active_subscriptions: int


@dataclass(frozen=True)
class Metrics:
    from_: datetime
    to: datetime
    mrr_cents: int
    new_mrr_cents: int
    expansion_mrr_cents: int
    contraction_mrr_cents: int
    churned_mrr_cents: int
    committed_mrr_cents: int
    paying_at_start: int
    paying: int
    churned: int
    by_status: tuple[tuple[str, int], ...]
    by_plan: tuple[tuple[str, int], ...]
    trials_ended: int
    trials_converted: int
    past_due_cents: int
    series: tuple[MetricsPoint, ...]

    @property
    def churn_rate(self) -> float | None:
        """Of the subscriptions paying at `from`, the share paying nothing at `to`."""
        return self.churned / self.paying_at_start if self.paying_at_start else None

    @property
    def arpu_cents(self) -> int | None:
        """MRR per paying subscription at `to`, rounded half up."""
        return (2 * self.mrr_cents + self.paying) // (2 * self.paying) if self.paying else None

    @property
    def trial_conversion_rate(self) -> float | None:
        return self.trials_converted / self.trials_ended if self.trials_ended else None


def _series(start: datetime, step: timedelta, edges: list[Any]) -> tuple[MetricsPoint, ...]:
    """The points from the lines' edges: a running sum of what starts and stops."""
    by_point = {int(r["k"]): (r["mrr_delta"], int(r["active_delta"])) for r in edges}
    mrr, active, points = Decimal(0), 0, []
    for k in range(MAX_POINTS):
        delta_mrr, delta_active = by_point.get(k, (Decimal(0), 0))
        mrr, active = mrr + delta_mrr, active + delta_active
        points.append(MetricsPoint(start + step * k, int(mrr.to_integral_value()), active))
    return tuple(points)


def check_range(start: datetime, end: datetime) -> None:
    if not start < end or end - start > MAX_RANGE:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"from must be before to (and before now), at most {MAX_RANGE.days} days apart",
            "from",
        )


DEFAULT_RANGE = timedelta(days=30)


async def metrics(deps: Deps, start: datetime | None, end: datetime | None) -> Metrics:
    """As of `end`, never later than the service's clock (no `end`: now); from `start`
    (none: 30 days before). A figure "as of" the future would drop every subscription
    whose paid period ends before it."""
    now = deps.clock.now()
    end = min(end, now) if end is not None else now
    start = start if start is not None else end - DEFAULT_RANGE
    check_range(start, end)
    step = (end - start) / (MAX_POINTS - 1)
    async with deps.plain_connection() as connection:
        found = await fetch_metrics(connection, start, end, step, MAX_POINTS, now)
    moved, trials = found["moved"], found["trials"]
    by_status, by_plan, past_due = found["by_status"], found["by_plan"], found["past_due"]
    assert moved is not None and trials is not None
    return Metrics(
        from_=start,
        to=end,
        mrr_cents=int(moved["mrr"]),
        new_mrr_cents=int(moved["new"]),
        expansion_mrr_cents=int(moved["expansion"]),
        contraction_mrr_cents=int(moved["contraction"]),
        churned_mrr_cents=int(moved["churn"]),
        committed_mrr_cents=int(moved["committed"]),
        paying_at_start=int(moved["paying_before"]),
        paying=int(moved["paying"]),
        churned=int(moved["churned"]),
        by_status=tuple((r["status"], int(r["n"])) for r in by_status),
        by_plan=tuple((r["code"], int(r["n"])) for r in by_plan),
        trials_ended=int(trials["ended"]),
        trials_converted=int(trials["converted"]),
        past_due_cents=int(past_due or 0),
        series=_series(start, step, found["edges"]),
    )
