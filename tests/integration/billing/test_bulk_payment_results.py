"""Payment results in bulk (services/bulk/payment_results.py) beside the general path:
one batch mixing subscription payments (bulk) with an upgrade (the ORM path), repeats
and stale reports, applied once each, in order, in one transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.billing import payment_methods
from services.billing.rules import PaymentPurpose, PaymentStatus
from services.bulk.payment_results import bulk_payment_ids
from services.collection.payment_results import (
    PaymentResultMessage,
    ResultOutcome,
    apply_payment_results,
)
from services.subscriptions import checkout, plan_changes
from tests.conftest import scalar
from tests.integration.subscriptions.test_checkout import used_trial


def result(processor_id: str, status: PaymentStatus, at: datetime, n: int) -> PaymentResultMessage:
    return PaymentResultMessage(
        source="kafka",
        message_id=f"m-{n}",
        message_type="payment.processed",
        occurred_at=at,
        status=status,
        processor_payment_id=processor_id,
    )


async def test_one_batch_applies_bulk_and_general_results_in_order(deps):
    await used_trial(deps, "ann")
    first = await checkout.subscribe(
        deps, checkout.Subscribe("ann", "premium", "pm_card_authenticationRequired")
    )
    await used_trial(deps, "ben")
    await checkout.subscribe(deps, checkout.Subscribe("ben", "ad-free", "pm_card_visa"))
    await payment_methods.add(
        deps,
        payment_methods.AddPaymentMethod(
            "ben", "pm_card_authenticationRequired", make_default=True
        ),
    )
    upgrade = await plan_changes.upgrade(deps, plan_changes.Upgrade("ben", "premium"))
    assert first.payment and upgrade.payment  # both wait for their results
    assert first.payment.processor_payment_id and upgrade.payment.processor_payment_id
    at = datetime.now(UTC)
    batch = [
        result(first.payment.processor_payment_id, PaymentStatus.SUCCESS, at, 1),
        result(upgrade.payment.processor_payment_id, PaymentStatus.SUCCESS, at, 2),
        result(first.payment.processor_payment_id, PaymentStatus.FAILED, at - timedelta(1), 3),
        result(first.payment.processor_payment_id, PaymentStatus.SUCCESS, at, 1),  # a repeat
        result("pi_nobody", PaymentStatus.SUCCESS, at, 4),
    ]
    outcomes = await apply_payment_results(deps, batch)
    assert outcomes == [
        ResultOutcome.APPLIED,
        ResultOutcome.APPLIED,
        ResultOutcome.STALE,  # older than the success, and a success never changes
        ResultOutcome.DUPLICATE,
        ResultOutcome.UNKNOWN_PAYMENT,
    ]
    states = await scalar(
        deps,
        "SELECT json_object_agg(s.user_id, json_build_array(s.status, p.code))"
        " FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.is_current",
    )
    assert states == {"ann": ["ACTIVE", "premium"], "ben": ["ACTIVE", "premium"]}
    reasons = await scalar(
        deps,
        "SELECT json_agg(json_build_array(user_id, reason, actor) ORDER BY id)"
        " FROM subscription_history WHERE details ? 'messageId'",
    )
    assert reasons == [
        ["ann", "payment_succeeded", "system:kafka"],
        ["ben", "upgraded", "system:kafka"],
    ]
    paid = await scalar(
        deps,
        "SELECT count(*) FROM invoices i JOIN payments p ON p.invoice_id = i.id"
        " WHERE p.payment_id = :pid AND i.status = 'PAID' AND i.amount_paid_cents = i.total_cents"
        " AND i.paid_at IS NOT NULL",
        pid=first.payment.processor_payment_id,
    )
    assert paid == 1
    started = await scalar(
        deps,
        "SELECT array_agg(event_type ORDER BY id) FROM outbox WHERE key = 'ann'"
        " AND created_at = (SELECT max(created_at) FROM outbox WHERE key = 'ann')",
    )
    assert started[:2] == ["subscription.status_changed", "subscription.started"]
    inbox = await scalar(
        deps,
        "SELECT json_object_agg(message_id, outcome) FROM processed_messages"
        " WHERE source = 'kafka'",
    )
    assert inbox == {"m-1": "applied", "m-2": "applied", "m-3": "stale", "m-4": "unknown_payment"}


def test_a_subscription_with_any_other_kind_of_payment_in_the_batch_goes_whole_elsewhere():
    sub_a, sub_b, sub_c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    routes = [
        {"id": 1, "order_id": sub_a, "quota_pack_id": None, "purpose": PaymentPurpose.RENEWAL},
        {"id": 2, "order_id": sub_b, "quota_pack_id": None, "purpose": PaymentPurpose.RENEWAL},
        {"id": 3, "order_id": sub_b, "quota_pack_id": None, "purpose": PaymentPurpose.UPGRADE},
        {"id": 4, "order_id": None, "quota_pack_id": uuid.uuid4(), "purpose": "QUOTA_PACK"},
        {"id": 5, "order_id": sub_c, "quota_pack_id": None, "purpose": "FINAL_USAGE"},
        {"id": 6, "order_id": sub_a, "quota_pack_id": None, "purpose": "FIRST_PAYMENT"},
    ]
    assert bulk_payment_ids(routes) == {1, 6}  # type: ignore[arg-type]
