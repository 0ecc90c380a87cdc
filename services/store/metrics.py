"""SQL for the admin console's key figures (services/reads/metrics.py says what they
mean): one statement each, on a plain asyncpg connection."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

MONTH_SECONDS = 2629746  # 365.2425 days / 12

# Lines that make up recurring revenue, each with its monthly amount and its period.
_LINES = f"""
lines AS (
  SELECT i.subscription_id AS sub, l.period_start AS ps,
         -- a subscription that ended early (cancelled now) stops counting then
         least(l.period_end, s.current_period_end) AS pe,
         l.amount_cents::numeric * {MONTH_SECONDS}
           / extract(epoch FROM l.period_end - l.period_start) AS monthly
  FROM invoice_lines l
  JOIN invoices i ON i.id = l.invoice_id
  JOIN subscriptions s ON s.id = i.subscription_id
  WHERE l.kind IN ('SUBSCRIPTION', 'DISCOUNT') AND i.status IN ('PAID', 'OPEN')
    AND l.period_end > l.period_start
)"""

MOVEMENT_SQL = f"""
WITH {_LINES},
at_from AS (SELECT sub, sum(monthly) AS m FROM lines WHERE ps <= $1 AND $1 < pe GROUP BY sub),
at_to AS (SELECT sub, sum(monthly) AS m FROM lines WHERE ps <= $2 AND $2 < pe GROUP BY sub),
moved AS (
  SELECT coalesce(f.m, 0) AS a, coalesce(t.m, 0) AS b
  FROM at_from f FULL JOIN at_to t ON f.sub = t.sub
)
SELECT round(coalesce(sum(b), 0)) AS mrr,
       round(coalesce(sum(b) FILTER (WHERE a = 0 AND b > 0), 0)) AS new,
       round(coalesce(sum(b - a) FILTER (WHERE a > 0 AND b > a), 0)) AS expansion,
       round(coalesce(sum(a - b) FILTER (WHERE b > 0 AND a > b), 0)) AS contraction,
       round(coalesce(sum(a) FILTER (WHERE a > 0 AND b = 0), 0)) AS churn
FROM moved
"""

SERIES_SQL = f"""
WITH {_LINES},
points AS (SELECT generate_series($1::timestamptz, $2::timestamptz, $3::interval) AS at)
SELECT p.at, round(coalesce(sum(l.monthly), 0)) AS mrr, count(DISTINCT l.sub) AS active
FROM points p LEFT JOIN lines l ON l.ps <= p.at AND p.at < l.pe
GROUP BY p.at ORDER BY p.at
"""

BY_STATUS_SQL = """
SELECT status, count(*) AS n FROM subscriptions WHERE is_current GROUP BY status ORDER BY status
"""

BY_PLAN_SQL = """
SELECT p.code, count(*) AS n
FROM subscriptions s JOIN plans p ON p.id = s.plan_id
WHERE s.is_current AND s.status IN ('TRIALING', 'ACTIVE', 'PAST_DUE')
GROUP BY p.code ORDER BY p.code
"""

TRIALS_SQL = """
SELECT count(*) AS ended,
       count(*) FILTER (WHERE EXISTS (
         SELECT 1 FROM payments p WHERE p.order_id = s.id
           AND p.purpose = 'TRIAL_CONVERSION' AND p.status_literal = 'success')) AS converted
FROM subscriptions s
WHERE s.trial_end >= $1 AND s.trial_end < $2 AND s.trial_end <= $3 AND s.trial_start IS NOT NULL
"""

PAST_DUE_SQL = """
SELECT coalesce(sum(i.total_cents - i.amount_paid_cents), 0)
FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id
WHERE i.status = 'OPEN' AND s.status = 'PAST_DUE'
"""


async def fetch_metrics(
    connection: asyncpg.Connection,
    start: datetime,
    end: datetime,
    step: timedelta,
    now: datetime,
) -> dict[str, Any]:
    return {
        "moved": await connection.fetchrow(MOVEMENT_SQL, start, end),
        "points": await connection.fetch(SERIES_SQL, start, end, step),
        "by_status": await connection.fetch(BY_STATUS_SQL),
        "by_plan": await connection.fetch(BY_PLAN_SQL),
        "trials": await connection.fetchrow(TRIALS_SQL, start, end, now),
        "past_due": await connection.fetchval(PAST_DUE_SQL),
    }
