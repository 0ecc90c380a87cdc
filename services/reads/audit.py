"""The money audit (`main.py audit`): every invariant the money model promises, checked
over the whole database, each as one SQL query that names the rows breaking it.

The checks read the tables directly, not through the use cases, so they test what was
written rather than the code's own view of it. One read-only transaction (REPEATABLE
READ) sees one moment, so a running service does not make a check disagree with itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

SHOWN = 20  # rows named per broken invariant; the count says how many in all


@dataclass(frozen=True)
class Check:
    name: str
    promise: str
    sql: str  # one text column per offending row, describing it


@dataclass(frozen=True)
class Violation:
    check: Check
    rows: tuple[str, ...]  # the first SHOWN
    count: int

    def line(self) -> str:
        more = f" (and {self.count - len(self.rows)} more)" if self.count > len(self.rows) else ""
        return f"{self.check.name}: {self.check.promise}: {'; '.join(self.rows)}{more}"


_REFUNDS = (
    "(SELECT invoice_id, sum(amount_cents) AS cents FROM refunds"
    " WHERE status <> 'FAILED' GROUP BY invoice_id)"
)
_NOTES = (
    "(SELECT invoice_id, sum(amount_cents) FILTER (WHERE kind = 'REFUND') AS refunded,"
    " sum(amount_cents) FILTER (WHERE kind <> 'REFUND' AND voided_at IS NULL) AS credited"
    " FROM credit_notes GROUP BY invoice_id)"
)


def _gapless(table: str, prefix: str, counter: str) -> str:
    return f"""
    WITH numbered AS (
        SELECT substring(number FROM {len(prefix) + 1})::bigint AS n FROM {table}
        UNION ALL  -- deleted with a test clock's customers, on record as retired
        SELECT substring(number FROM {len(prefix) + 1})::bigint FROM retired_numbers
         WHERE number LIKE '{prefix}%'
    ), span AS (
        SELECT count(*) AS issued, coalesce(max(n), 0) AS last FROM numbered
    )
    SELECT format('missing {prefix}%s', lpad(g::text, 8, '0'))
      FROM span, generate_series(1, span.last) g
     WHERE NOT EXISTS (SELECT 1 FROM numbered WHERE n = g)
    UNION ALL
    SELECT format('counter at %s, last issued %s', c.last_number, span.last)
      FROM span JOIN invoice_counters c ON c.name = '{counter}'
     WHERE c.last_number <> span.last
    """


CHECKS: tuple[Check, ...] = (
    Check(
        "invoice_lines",
        "an invoice's lines add up to its total",
        """SELECT format('%s total %s, lines %s', i.number, i.total_cents, coalesce(l.cents, 0))
             FROM invoices i
             LEFT JOIN (SELECT invoice_id, sum(amount_cents) AS cents FROM invoice_lines
                         GROUP BY invoice_id) l ON l.invoice_id = i.id
            WHERE i.total_cents <> coalesce(l.cents, 0)""",
    ),
    Check(
        "invoice_paid",
        "a paid invoice was paid its total; any other was paid nothing",
        """SELECT format('%s %s, total %s, paid %s', number, status, total_cents,
                         amount_paid_cents)
             FROM invoices
            WHERE amount_paid_cents <> CASE status WHEN 'PAID' THEN total_cents ELSE 0 END""",
    ),
    Check(
        "invoice_credit_applied",
        "an invoice's credit applied is what its CREDIT and PRORATION_CREDIT lines say",
        """SELECT format('%s credit applied %s, lines %s', i.number, i.credit_applied_cents,
                         coalesce(l.cents, 0))
             FROM invoices i
             LEFT JOIN (SELECT invoice_id, -sum(amount_cents) AS cents FROM invoice_lines
                         WHERE kind IN ('CREDIT', 'PRORATION_CREDIT')
                         GROUP BY invoice_id) l ON l.invoice_id = i.id
            WHERE i.credit_applied_cents <> coalesce(l.cents, 0)""",
    ),
    Check(
        "invoice_returns",
        "paid - refunded - credited >= 0 for every invoice (pending refunds count)",
        f"""SELECT format('%s paid %s + credit %s, refunded %s, credited %s', i.number,
                          i.amount_paid_cents, i.credit_applied_cents,
                          coalesce(r.cents, 0), i.amount_credited_cents)
              FROM invoices i LEFT JOIN {_REFUNDS} r ON r.invoice_id = i.id
             WHERE i.amount_paid_cents + i.credit_applied_cents
                   - greatest(coalesce(r.cents, 0), i.amount_refunded_cents)
                   - i.amount_credited_cents < 0""",
    ),
    Check(
        "invoice_credit_notes",
        "an invoice's refunded and credited amounts are the sums of its credit notes",
        f"""SELECT format('%s refunded %s (notes %s), credited %s (notes %s)', i.number,
                          i.amount_refunded_cents, coalesce(n.refunded, 0),
                          i.amount_credited_cents, coalesce(n.credited, 0))
              FROM invoices i LEFT JOIN {_NOTES} n ON n.invoice_id = i.id
             WHERE i.amount_refunded_cents <> coalesce(n.refunded, 0)
                OR i.amount_credited_cents <> coalesce(n.credited, 0)""",
    ),
    Check(
        "payment_refunds",
        "no payment is refunded past its amount, and every succeeded refund has its note",
        """SELECT format('payment %s amount %s, refunds %s', p.id, p.amount_cents, r.cents)
             FROM payments p
             JOIN (SELECT payment_id, sum(amount_cents) AS cents FROM refunds
                    WHERE status <> 'FAILED' GROUP BY payment_id) r ON r.payment_id = p.id
            WHERE r.cents > p.amount_cents
           UNION ALL
           SELECT format('refund %s of %s has no credit note', r.id, r.amount_cents)
             FROM refunds r
            WHERE r.status = 'SUCCEEDED'
              AND NOT EXISTS (SELECT 1 FROM credit_notes n WHERE n.refund_id = r.id
                                 AND n.amount_cents = r.amount_cents)""",
    ),
    Check(
        "credit_balances",
        "each balance is >= 0 and equals the sum of its ledger and its newest entry",
        """SELECT format('%s balance %s, ledger sum %s, newest %s', b.user_id, b.balance_cents,
                         coalesce(e.cents, 0), coalesce(last.balance_after_cents, 0))
             FROM credit_balances b
             LEFT JOIN (SELECT user_id, sum(amount_cents) AS cents FROM credit_ledger
                         GROUP BY user_id) e ON e.user_id = b.user_id
             LEFT JOIN LATERAL (SELECT balance_after_cents FROM credit_ledger l
                                 WHERE l.user_id = b.user_id ORDER BY id DESC LIMIT 1) last
                    ON true
            WHERE b.balance_cents < 0 OR b.balance_cents <> coalesce(e.cents, 0)
               OR b.balance_cents <> coalesce(last.balance_after_cents, 0)""",
    ),
    Check(
        "customer_returns",
        "no customer got back (refunds, unused-time credit) more than they paid"
        " (card, and credit spent)",
        """WITH paid AS (
               SELECT user_id, sum(amount_paid_cents) AS cents FROM invoices GROUP BY user_id
           ), spent AS (
               SELECT user_id, -sum(amount_cents) AS cents FROM credit_ledger
                WHERE kind IN ('APPLIED', 'CREDIT_RESTORED') GROUP BY user_id
           ), returned AS (
               SELECT user_id, sum(amount_cents) AS cents FROM (
                   SELECT user_id, amount_cents FROM refunds WHERE status <> 'FAILED'
                   UNION ALL
                   SELECT user_id, amount_cents FROM credit_notes
                    WHERE kind = 'UNUSED_TIME' AND voided_at IS NULL) r
                GROUP BY user_id
           )
           SELECT format('%s paid %s + credit spent %s, got back %s', r.user_id,
                         coalesce(p.cents, 0), coalesce(s.cents, 0), r.cents)
             FROM returned r
             LEFT JOIN paid p ON p.user_id = r.user_id
             LEFT JOIN spent s ON s.user_id = r.user_id
            WHERE r.cents > coalesce(p.cents, 0) + coalesce(s.cents, 0)""",
    ),
    Check(
        "code_redemptions",
        "no code or coupon is redeemed past its limit, and each count is its redemptions",
        """SELECT format('code %s redeemed %s (limit %s, redemptions %s)', p.code,
                         p.times_redeemed, p.max_redemptions, count(d.id))
             FROM promotion_codes p
             LEFT JOIN subscription_discounts d ON d.promotion_code_id = p.id
            GROUP BY p.id
           HAVING p.times_redeemed > coalesce(p.max_redemptions, p.times_redeemed)
               OR p.times_redeemed <> count(d.id)
           UNION ALL
           SELECT format('coupon %s redeemed %s (limit %s, redemptions %s)', c.code,
                         c.times_redeemed, c.max_redemptions, count(d.id))
             FROM coupons c
             LEFT JOIN subscription_discounts d ON d.coupon_id = c.id
            GROUP BY c.id
           HAVING c.times_redeemed > coalesce(c.max_redemptions, c.times_redeemed)
               OR c.times_redeemed <> count(d.id)""",
    ),
    Check(
        "customer_redemptions",
        "no customer redeemed a coupon more often than it allows per customer",
        """SELECT format('%s redeemed %s %s times (limit %s)', d.user_id, c.code, count(*),
                         c.max_redemptions_per_customer)
             FROM subscription_discounts d
             JOIN coupons c ON c.id = d.coupon_id
             JOIN subscriptions s ON s.id = d.subscription_id
            WHERE s.status <> 'FAILED'
            GROUP BY d.user_id, c.id
           HAVING count(*) > coalesce(c.max_redemptions_per_customer, count(*))""",
    ),
    Check(
        "discount_cycles",
        "no discount is applied to more invoices than its duration",
        """SELECT format('subscription %s has %s discounted invoices for %s cycles',
                         s.subscription_id, used.invoices, s.cycles)
             FROM (SELECT d.subscription_id,
                          sum(CASE c.duration WHEN 'ONCE' THEN 1
                              WHEN 'REPEATING' THEN c.duration_in_cycles END) AS cycles
                     FROM subscription_discounts d JOIN coupons c ON c.id = d.coupon_id
                    GROUP BY d.subscription_id
                   HAVING bool_and(c.duration <> 'FOREVER')) s
             JOIN LATERAL (SELECT count(DISTINCT i.id) AS invoices FROM invoices i
                             JOIN invoice_lines l ON l.invoice_id = i.id
                            WHERE i.subscription_id = s.subscription_id
                              AND l.kind = 'DISCOUNT') used ON true
            WHERE used.invoices > s.cycles""",
    ),
    Check(
        "invoice_numbers", "invoice numbers are gapless", _gapless("invoices", "INV-", "invoice")
    ),
    Check(
        "credit_note_numbers",
        "credit note numbers are gapless",
        _gapless("credit_notes", "CN-", "credit_notes"),
    ),
)


async def audit_database(url: str) -> list[str]:
    """The broken invariants of the database at `url`, a line each (`main.py audit`)."""
    from services.store.db import make_engine, make_session_factory

    engine = make_engine(url, 1)
    try:
        return [v.line() for v in await violations(make_session_factory(engine))]
    finally:
        await engine.dispose()


async def violations(sessions: async_sessionmaker[AsyncSession]) -> list[Violation]:
    """Every broken invariant, with the rows that break it (empty: all hold)."""
    found = []
    async with sessions() as session:
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        for check in CHECKS:
            rows = [row[0] for row in await session.execute(text(check.sql))]
            if rows:
                found.append(Violation(check, tuple(rows[:SHOWN]), len(rows)))
        await session.rollback()
    return found
