"""Payment results in bulk: a consumer's batch of results for subscription payments,
applied in memory in the order they arrived and written a table at a time.

`billing.payment_results` routes each batch and applies the other kinds of payment
(quota packs, upgrades, final usage) through the ORM in the same transaction; a
subscription with any such payment in the batch goes there whole, so the two paths
never touch the same rows. Both decide alike: `rules.result_changes_status` for the
payment, `result_transition` for the subscription, `events_for` for the events.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from models import Plan
from services.billing.payments import RENEWAL_PURPOSES, invoice_status_after
from services.billing.rules import (
    InvoiceStatus,
    PaymentPurpose,
    PaymentStatus,
    result_changes_status,
)
from services.bulk import statements
from services.bulk.statements import history_row, state_of_row, updated_columns
from services.common.errors import InvalidTransition
from services.gateway.base import ChargeOutcome
from services.platform.uow import UnitOfWork
from services.store.db import plan_as_key_lookups, session_driver
from services.store.plans import terms_of
from services.subscriptions import lifecycle
from services.subscriptions.lifecycle import SubscriptionState, Transition
from services.subscriptions.transitions import Changed, events_for

# Payments whose results only move the payment, its invoice and its subscription.
BULK_PURPOSES = frozenset(PaymentPurpose) - {PaymentPurpose.UPGRADE, PaymentPurpose.FINAL_USAGE}
OUTCOME_OF = {
    PaymentStatus.SUCCESS: ChargeOutcome.SUCCEEDED,
    PaymentStatus.FAILED: ChargeOutcome.DECLINED,
    PaymentStatus.CANCELED: ChargeOutcome.CANCELED,
}


def result_transition(
    state: SubscriptionState,
    plan: Plan,
    pending: Plan | None,
    purpose: PaymentPurpose,
    amount_cents: int,
    status: PaymentStatus,
    now: datetime,
) -> Transition | None:
    """What a payment's result does to its subscription (None: nothing, including when
    the subscription has moved on; the payment record still tells the truth). A
    renewal-type charge paid for the plan a scheduled downgrade chose."""
    charged = pending if pending is not None and purpose in RENEWAL_PURPOSES else plan
    try:
        return lifecycle.payment_result(state, terms_of(charged), amount_cents, status, now)
    except InvalidTransition:
        return None


@dataclass(slots=True)
class _Payment:
    id: uuid.UUID
    order_id: uuid.UUID
    invoice_id: uuid.UUID | None
    purpose: PaymentPurpose
    amount_cents: int
    status: PaymentStatus
    seen_at: datetime | None
    failure_message: str | None
    touched: bool = False
    invoice_status: InvoiceStatus | None = None


@dataclass(slots=True)
class _Subscription:
    id: uuid.UUID
    user_id: str
    plan: Plan
    pending: Plan | None
    fulfillment: dict[str, Any] | None
    state: SubscriptionState
    changed: bool = False


@dataclass
class BulkResults:
    """The batch's subscription payments, locked and loaded, and what applying their
    results wrote so far (in memory until `write`)."""

    by_id: dict[uuid.UUID, _Payment] = field(default_factory=dict)
    by_processor_id: dict[str, _Payment] = field(default_factory=dict)
    subscriptions: dict[uuid.UUID, _Subscription] = field(default_factory=dict)
    plans_by_code: dict[str, Plan] = field(default_factory=dict)
    history: list[tuple[Any, ...]] = field(default_factory=list)

    def payment(self, payment_id: uuid.UUID | None, processor_id: str | None) -> _Payment | None:
        if payment_id is not None:
            return self.by_id.get(payment_id)
        return self.by_processor_id.get(processor_id) if processor_id else None


def bulk_payment_ids(routes: Sequence[asyncpg.Record]) -> set[uuid.UUID]:
    """The payments whose results go in bulk: subscription payments of BULK_PURPOSES,
    unless their subscription has another kind of payment in the batch."""
    elsewhere = {
        r["order_id"]
        for r in routes
        if r["order_id"] is None or r["quota_pack_id"] or r["purpose"] not in BULK_PURPOSES
    }
    return {
        r["id"]
        for r in routes
        if r["order_id"] is not None
        and r["quota_pack_id"] is None
        and r["purpose"] in BULK_PURPOSES
        and r["order_id"] not in elsewhere
    }


async def load(uow: UnitOfWork, payment_ids: set[uuid.UUID]) -> BulkResults:
    """Lock and read the payments and their subscriptions (their users are locked)."""
    loaded = BulkResults()
    if not payment_ids:
        return loaded
    rows = await statements.payments_for_update(uow.session, payment_ids, ())
    subscriptions = await statements.subscriptions_for_update(
        uow.session, {row["order_id"] for row in rows}
    )
    plan_ids = {s["plan_id"] for s in subscriptions} | {
        s["pending_plan_id"] for s in subscriptions if s["pending_plan_id"]
    }
    plans = await uow.plans.by_ids(plan_ids)
    loaded.plans_by_code = {plan.code: plan for plan in plans.values()}
    for row in rows:
        payment = _Payment(
            row["id"],
            row["order_id"],
            row["invoice_id"],
            PaymentPurpose(row["purpose"]),
            row["amount_cents"],
            PaymentStatus(row["status_literal"]),
            row["processor_event_at"],
            row["failure_message"],
        )
        loaded.by_id[payment.id] = payment
        if row["payment_id"]:
            loaded.by_processor_id[row["payment_id"]] = payment
    for row in subscriptions:
        plan, pending = plans[row["plan_id"]], plans.get(row["pending_plan_id"])
        loaded.subscriptions[row["id"]] = _Subscription(
            row["id"],
            row["user_id"],
            plan,
            pending,
            orjson.loads(row["fulfillment"]) if row["fulfillment"] else None,
            state_of_row(row, plan.code, pending.code if pending else None),
        )
    return loaded


def apply(
    uow: UnitOfWork,
    loaded: BulkResults,
    payment: _Payment,
    status: PaymentStatus,
    occurred_at: datetime,
    failure_message: str | None,
    *,
    free_plan: Plan,
    actor: str,
    details: dict[str, Any],
    now: datetime,
) -> None:
    """One result, in memory (raises StaleResult when it changes nothing)."""
    changes = result_changes_status(payment.status, payment.seen_at, status, occurred_at)
    payment.seen_at, payment.touched = occurred_at, True
    if not changes:
        return
    payment.status, payment.failure_message = status, failure_message
    if payment.invoice_id is not None:
        payment.invoice_status = invoice_status_after(OUTCOME_OF[status], payment.purpose)
    row = loaded.subscriptions[payment.order_id]
    transition = result_transition(
        row.state, row.plan, row.pending, payment.purpose, payment.amount_cents, status, now
    )
    if transition is None:
        return
    after = transition.after
    row.state, row.changed = after, True
    row.plan = loaded.plans_by_code[after.plan_code]
    row.pending = loaded.plans_by_code[after.pending_plan_code] if after.pending_plan_code else None
    loaded.history.append(history_row(row.id, row.user_id, transition, actor, details))
    for event in events_for(
        Changed(row.id, row.user_id, row.plan, row.fulfillment, transition), free_plan, actor, now
    ):
        uow.record(event)


async def write(uow: UnitOfWork, loaded: BulkResults, now: datetime) -> None:
    touched = [p for p in loaded.by_id.values() if p.touched]
    if not touched:
        return
    states = [
        (
            row.id,
            row.state.is_current,
            row.plan.id,
            row.pending.id if row.pending else None,
            *updated_columns(row.state),
        )
        for row in loaded.subscriptions.values()
        if row.changed
    ]
    driver = await session_driver(uow.session)
    await plan_as_key_lookups(driver)
    await statements.write_payment_results(
        driver,
        [(p.id, p.status.value, p.failure_message, p.seen_at) for p in touched],
        [(p.invoice_id, p.invoice_status.value) for p in touched if p.invoice_status],
        now,
    )
    await statements.write_history(driver, loaded.history, now)
    await statements.write_states(driver, states, now)
