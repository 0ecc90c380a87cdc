"""Plain renewals are written in bulk (services/bulk/renewals.py): the same rows, states and
events as the scheduler's general path, and the same guarantees (each due
subscription renewed once by competing workers, a crash mid-batch writes nothing and
charges nobody twice, an unreachable gateway defers without changing anything)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import jsonschema
import pytest

from services.billing import payment_methods
from services.billing.rules import PaymentStatus
from services.bulk import renewals as bulk
from services.bulk import statements
from services.collection import scheduler
from services.collection.payment_results import (
    PaymentResultMessage,
    ResultOutcome,
    apply_payment_results,
)
from services.gateway.base import ChargeOutcome, ChargeResult
from services.store.db import session_driver
from services.subscriptions import checkout
from tests.conftest import execute, scalar
from tests.integration.billing.test_billing_cycle import CrashingGateway, WorkerKilled
from tests.integration.messaging.test_events import schema
from tests.integration.subscriptions.test_checkout import used_trial

# Columns that name the user, the row or the moment: the rest must match path for path.
PAYMENT = "purpose, amount_cents, currency, payment_status, status_literal, attempt, platform"
INVOICE = "status, currency, total_cents, amount_paid_cents, amount_refunded_cents"


async def active(deps, user: str, card: str = "pm_card_visa") -> None:  # type: ignore[no-untyped-def]
    """A paying ACTIVE subscriber whose renewals charge `card`."""
    await used_trial(deps, user)
    await checkout.subscribe(deps, checkout.Subscribe(user, "premium", "pm_card_visa"))
    if card != "pm_card_visa":
        await payment_methods.add(
            deps, payment_methods.AddPaymentMethod(user, card, make_default=True)
        )


async def renewal_of(deps, user: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What the user's first renewal wrote, without ids and times."""
    found = await scalar(
        deps,
        f"""
        SELECT json_build_object(
          'payment', (SELECT to_jsonb(x) FROM (SELECT {PAYMENT},
              period_start = (SELECT period_start FROM invoices i WHERE i.id = p.invoice_id)
              AS pays_its_invoice_period,
              payment_id IS NOT NULL AS has_processor_id, payment_method_id,
              failure_message) x),
          'invoice', (SELECT to_jsonb(x) FROM (SELECT {INVOICE}, paid_at IS NOT NULL AS paid,
              period_end = (SELECT current_period_end FROM subscriptions s WHERE s.id = p.order_id)
              AS period_is_current FROM invoices i WHERE i.id = p.invoice_id) x),
          'lines', (SELECT json_agg(json_build_array(position, kind, description, amount_cents,
              plan_code) ORDER BY position) FROM invoice_lines l WHERE l.invoice_id = p.invoice_id),
          'history', (SELECT json_agg(json_build_array(from_status, to_status, reason, actor,
              details - 'invoice') ORDER BY id) FROM subscription_history h
              WHERE h.user_id = p.owner_id AND h.occurred_at = p.created_at),
          'subscription', (SELECT to_jsonb(x) FROM (SELECT status, payment_confirmation,
              retry_count, price_paid_cents, is_current, cancel_at_period_end,
              current_period_start = p.period_start AS starts_where_paid,
              grace_expires_at - p.created_at AS grace, next_retry_at - p.created_at AS retry_in
              FROM subscriptions s WHERE s.id = p.order_id) x),
          'events', (SELECT json_agg(json_build_array(event_type,
              ((envelope::jsonb)->'data') - 'subscriptionId' - 'userId' - 'currentPeriodStart'
              - 'currentPeriodEnd' - 'params') ORDER BY id)
              FROM outbox o WHERE o.key = p.owner_id AND o.created_at = p.created_at))
        FROM payments p WHERE p.owner_id = :user AND p.purpose = 'RENEWAL'
        ORDER BY p.created_at LIMIT 1
        """,
        user=user,
    )
    assert found is not None, f"{user} was not renewed"
    return dict(found)


async def test_bulk_and_general_paths_write_the_same_renewal(deps, clock, monkeypatch):
    await active(deps, "gen-ok")
    await active(deps, "gen-declined", "pm_card_chargeDeclined")
    clock.advance(timedelta(days=32))

    async def nothing_plain(*_: object) -> list[object]:
        return []

    with monkeypatch.context() as patched:  # the general path alone
        patched.setattr(bulk, "claim", nothing_plain)
        assert await scheduler.run_due_work(deps) == 2
    general = {o: await renewal_of(deps, f"gen-{o}") for o in ("ok", "declined")}
    await active(deps, "bulk-ok")
    await active(deps, "bulk-declined", "pm_card_chargeDeclined")
    clock.advance(timedelta(days=32))
    claimed = []
    real_claim = bulk.claim

    async def watched(*args: Any) -> list[Any]:
        found = await real_claim(*args)
        claimed.extend(record["user_id"] for record in found)
        return found

    monkeypatch.setattr(bulk, "claim", watched)
    await scheduler.run_due_work(deps)
    assert {"bulk-ok", "bulk-declined", "gen-ok"} <= set(claimed)  # PAST_DUE is not plain
    assert "gen-declined" not in claimed
    for outcome, expected in general.items():
        bulky = await renewal_of(deps, f"bulk-{outcome}")
        assert expected["payment"].pop("payment_method_id")[:8] == "pm_local"
        assert bulky["payment"].pop("payment_method_id")[:8] == "pm_local"
        assert bulky == expected, outcome
    declined = await renewal_of(deps, "bulk-declined")
    assert declined["subscription"]["status"] == "PAST_DUE"
    assert [e[0] for e in declined["events"]] == [
        "subscription.status_changed",
        "notification.requested",
        "notification.requested",
    ]
    envelopes = await scalar(
        deps, "SELECT json_agg(envelope) FROM outbox WHERE key = 'bulk-declined'"
    )
    for envelope in envelopes:
        jsonschema.validate(envelope, schema(envelope["type"]))


async def test_competing_workers_renew_each_plain_renewal_once(deps, clock, gateway):
    for n in range(30):
        await active(deps, f"many-{n}")
    charged_before = gateway.charge_count
    clock.advance(timedelta(days=32))
    done = await asyncio.gather(
        scheduler.run_due_work(deps, batch_size=4), scheduler.run_due_work(deps, batch_size=4)
    )
    assert sum(done) == 30 and all(done)  # both workers took a share
    assert gateway.charge_count - charged_before == 30
    renewals = await scalar(deps, "SELECT count(*) FROM payments WHERE purpose = 'RENEWAL'")
    assert renewals == 30
    numbers = await scalar(
        deps,
        "SELECT count(DISTINCT number) = count(*) AND max(number) = 'INV-00000060' FROM invoices",
    )
    assert numbers  # 30 first payments and 30 renewals, gapless


async def test_the_worker_claims_batches_of_its_configured_size(deps, clock, monkeypatch):
    for n in range(7):
        await active(deps, f"sized-{n}")
    clock.advance(timedelta(days=32))
    asked: list[int] = []
    claim = bulk.claim

    async def recorded(uow, now, limit, skip, scope):  # type: ignore[no-untyped-def]
        asked.append(limit)
        return await claim(uow, now, limit, skip, scope)

    monkeypatch.setattr(bulk, "claim", recorded)
    sized = dataclasses.replace(
        deps, settings=deps.settings.model_copy(update={"scheduler_batch_size": 2})
    )
    assert await scheduler.run_due_work(sized) == 7
    assert set(asked) == {2}
    assert len(asked) >= 4 + 1  # 7 rows in batches of 2, then nothing left to claim


async def test_a_crash_mid_batch_writes_nothing_and_the_rerun_charges_nobody_twice(
    deps, clock, gateway
):
    for n in range(6):
        await active(deps, f"crash-{n}")
    clock.advance(timedelta(days=32))
    charged_before = gateway.charge_count
    crashing = dataclasses.replace(deps, gateway=CrashingGateway(gateway, 3))
    with pytest.raises(WorkerKilled):
        await scheduler.run_due_work(crashing, batch_size=10)
    assert await scalar(deps, "SELECT count(*) FROM payments WHERE purpose = 'RENEWAL'") == 0
    assert gateway.charge_count - charged_before == 3
    assert await scheduler.run_due_work(deps) == 6
    assert gateway.charge_count - charged_before == 6  # the same keys were replayed
    twice = await scalar(
        deps,
        "SELECT count(*) FROM (SELECT order_id FROM payments WHERE purpose = 'RENEWAL'"
        " GROUP BY order_id HAVING count(*) > 1) t",
    )
    assert twice == 0


async def test_an_unreachable_gateway_defers_plain_renewals(deps, clock, gateway):
    for n in range(3):
        await active(deps, f"away-{n}")
    clock.advance(timedelta(days=32))
    gateway.available = False
    assert await scheduler.run_due_work(deps) == 0
    assert await scalar(deps, "SELECT count(*) FROM charge_deferrals") == 3
    assert await scalar(deps, "SELECT count(*) FROM payments WHERE purpose = 'RENEWAL'") == 0
    gateway.available = True
    clock.advance(timedelta(seconds=30))
    assert await scheduler.run_due_work(deps) == 3  # after the backoff, by the general path
    assert await scalar(deps, "SELECT count(*) FROM charge_deferrals") == 0


async def test_a_crash_in_one_batch_stops_the_other_before_the_run_returns(deps, clock, gateway):
    for n in range(6):
        await active(deps, f"pair-{n}")
    clock.advance(timedelta(days=32))
    invoices = await scalar(deps, "SELECT count(*) FROM invoices")  # the first payments'
    crashing = dataclasses.replace(deps, gateway=CrashingGateway(gateway, 4))
    with pytest.raises(WorkerKilled):  # two batches of 3 in flight: one of them dies
        await scheduler.run_due_work(crashing, batch_size=3)
    free = await scalar(  # nothing still holds a row, nothing half-written remains
        deps,
        "SELECT count(*) FROM (SELECT id FROM subscriptions WHERE status = 'ACTIVE'"
        " FOR UPDATE SKIP LOCKED) s",
    )
    assert free == 6
    # Whole batches only: the batch that did not crash may have committed before the
    # other died (its three charges came first), never a part of one.
    renewed = await scalar(deps, "SELECT count(*) FROM payments WHERE purpose = 'RENEWAL'")
    assert renewed in (0, 3)
    assert await scalar(deps, "SELECT count(*) FROM invoices") == invoices + renewed
    assert await scheduler.run_due_work(deps) == 6 - renewed
    assert await scalar(deps, "SELECT count(*) FROM payments WHERE purpose = 'RENEWAL'") == 6


class ProcessingGateway:
    """Answers every charge 'processing', as Stripe may for some payment methods."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.platform, self.charges = inner, inner.platform, 0

    async def charge(self, request):  # type: ignore[no-untyped-def]
        self.charges += 1
        return ChargeResult(ChargeOutcome.PROCESSING, f"pi_slow_{self.charges}", "processing")


async def test_a_renewal_still_processing_is_not_charged_again_and_its_result_renews_it(
    deps, clock, gateway
):
    await active(deps, "slow")
    clock.advance(timedelta(days=32))
    slow = ProcessingGateway(gateway)
    assert await scheduler.run_due_work(dataclasses.replace(deps, gateway=slow)) == 0
    assert slow.charges == 1
    waiting = await scalar(
        deps, "SELECT status_literal FROM payments WHERE purpose = 'RENEWAL' AND owner_id = 'slow'"
    )
    assert waiting == "started"
    charged_before = gateway.charge_count
    assert await scheduler.run_due_work(deps) == 0  # the charge is known: nobody charges again
    assert gateway.charge_count == charged_before
    assert await scalar(deps, "SELECT count(*) FROM payments WHERE purpose = 'RENEWAL'") == 1
    [outcome] = await apply_payment_results(
        deps,
        [
            PaymentResultMessage(
                "kafka",
                "slow-1",
                "payment.processed",
                clock.now(),
                PaymentStatus.SUCCESS,
                processor_payment_id="pi_slow_1",
            )
        ],
    )
    assert outcome is ResultOutcome.APPLIED
    renewed = await scalar(
        deps,
        "SELECT json_build_array(s.status, s.current_period_start = p.period_start, i.status)"
        " FROM subscriptions s JOIN payments p ON p.order_id = s.id AND p.purpose = 'RENEWAL'"
        " JOIN invoices i ON i.id = p.invoice_id WHERE s.user_id = 'slow'",
    )
    assert renewed == ["ACTIVE", True, "PAID"]


# 3,000 more subscribers due with it, analyzed; a renewal of each for an earlier period,
# not analyzed.
PROBE_SETUP = [
    """
    INSERT INTO payment_methods (id, payment_method_id, user_id, customer_id, platform,
        card_info, is_default, is_active, created_at)
    SELECT gen_random_uuid(), 'pm_probe_' || n, 'probe-' || n, 'cus_probe_' || n, 'local',
        '{}', true, true, :due
    FROM generate_series(1, 3000) n
    """,
    """
    INSERT INTO subscriptions (id, user_id, plan_id, status, payment_confirmation,
        is_current, billing_cycle_anchor, current_period_start, current_period_end,
        cancel_at_period_end, status_updated_at, price_paid_cents, currency,
        payment_processor, retry_count, is_active, created_at, updated_at)
    SELECT gen_random_uuid(), 'probe-' || n, s.plan_id, 'ACTIVE', 'PAID', true, :due,
        :due, :due, false, :due, 999, 'USD', 'local', 0, true, :due, :due
    FROM generate_series(1, 3000) n, subscriptions s WHERE s.user_id = 'probe-0'
        AND s.is_current
    """,
    "ANALYZE subscriptions, payment_methods",
    """
    INSERT INTO payments (id, owner_id, order_id, purpose, amount_cents, currency,
        payment_status, status_literal, idempotency_key, period_start, attempt, platform,
        is_active, created_at, updated_at)
    SELECT gen_random_uuid(), user_id, id, 'RENEWAL', 999, 'USD', 'succeeded', 'success',
        'old-' || id, CAST(:due AS timestamptz) - interval '1 month', 0, 'local', true,
        :due, :due
    FROM subscriptions WHERE user_id LIKE 'probe-%' AND user_id <> 'probe-0'
    """,
]


async def test_a_charge_committed_after_the_claims_snapshot_is_not_sent_again(deps, clock, gateway):
    """A claim reads its rows from a snapshot taken before it locks them: another worker
    may charge a row (PROCESSING leaves it unchanged, so the lock is then granted) and
    commit in between. The charge on record is asked again under the lock."""
    await active(deps, "racy")
    clock.advance(timedelta(days=32))
    async with deps.uow() as uow:  # a worker's claim, read before the other commits
        stale = await bulk.claim(uow, clock.now(), 10, ())
    assert [record["user_id"] for record in stale] == ["racy"]
    slow = ProcessingGateway(gateway)
    assert await scheduler.run_due_work(dataclasses.replace(deps, gateway=slow)) == 0
    assert slow.charges == 1  # the other worker's charge, committed while PROCESSING
    skipped: set[Any] = set()
    async with deps.uow() as uow:
        assert len(await bulk.claim(uow, clock.now(), 10, ())) == 1  # the lock is granted
        free_plan = await uow.plans.free_plan()
        changed = await bulk.renew(uow, slow, stale, free_plan, "scheduler", clock.now(), skipped)
        await uow.commit()
    assert changed == 0 and slow.charges == 1
    assert skipped == {stale[0]["id"]}
    assert await scalar(deps, "SELECT count(*) FROM payments WHERE purpose = 'RENEWAL'") == 1


async def test_the_claim_reads_payments_only_for_the_rows_it_claims(deps, clock):
    """The `charged` probe must stay a lookup per claimed row. With many rows due and
    the payments' statistics stale (as in any big run), the planner once hashed every
    renewal-type payment per batch instead: a claim that grew with the table."""
    await active(deps, "probe-0")
    due = clock.now() + timedelta(days=32)
    for sql in PROBE_SETUP:
        await execute(deps, sql, due=due)
    clock.advance(timedelta(days=33))
    async with deps.uow() as uow:
        driver = await session_driver(uow.session)
        claimed = await bulk.claim(uow, clock.now(), 5, ())
        [plan] = await driver.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + statements.RECHECK_SQL.format(clock_scope=""),
            clock.now(),
            [record["id"] for record in claimed],
        )
    assert len(claimed) == 5
    assert _rows_read(plan["Plan"], "payments") <= 5  # at most one per claimed row


def _rows_read(node: dict[str, Any], table: str) -> float:
    own = node["Actual Rows"] * node["Actual Loops"] if node.get("Relation Name") == table else 0
    return own + sum(_rows_read(child, table) for child in node.get("Plans", []))
