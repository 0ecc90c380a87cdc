"""Plain renewals of a scheduler batch, written in bulk.

Most of a month-start run is the same renewal over and over: an ACTIVE subscription
whose period ended, charged its own price on its default card. The scheduler hands
those rows here (claimed with FOR UPDATE SKIP LOCKED, like its own) and takes every
other kind of due work itself. The decisions are the same as the general path's: the
rules (`lifecycle.payment_result`) decide each transition, the same processor
idempotency keys are sent, and `transitions.events_for` builds the events. Only the
writing differs: a payment, an invoice with its line, a history row and the new state
per renewal, each kind in one statement for the whole batch, inside the batch's one
transaction with its outbox events.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from models import Plan
from services.billing.payments import invoice_status_after, send_charge, status_of_outcome
from services.billing.rules import InvoiceStatus, PaymentPurpose
from services.bulk import statements
from services.bulk.statements import history_row, new_ids, state_of_row, updated_columns
from services.common.errors import DomainError
from services.common.tasks import each_at_most
from services.gateway.base import (
    ChargeOutcome,
    ChargeRequest,
    ChargeResult,
    PaymentGateway,
    idempotency_key,
)
from services.platform.uow import UnitOfWork
from services.pricing.periods import next_period_end
from services.pricing.rules import price_for_period
from services.store.db import plan_as_key_lookups, session_driver
from services.store.operations import EVERYONE, DueScope
from services.store.plans import terms_of
from services.subscriptions import lifecycle
from services.subscriptions.lifecycle import SubscriptionState
from services.subscriptions.state import PlanTerms
from services.subscriptions.transitions import Changed, events_for

log = logging.getLogger(__name__)
GATEWAY_CONCURRENCY = 16  # charges in flight at once per worker
_RENEWAL = PaymentPurpose.RENEWAL.value
# The purpose's stored value and the invoice each outcome leaves: once, not per row.
_INVOICE_STATUS_AFTER = {
    outcome: invoice_status_after(outcome, PaymentPurpose.RENEWAL) for outcome in ChargeOutcome
}


@dataclass(slots=True)
class _Renewal:
    id: uuid.UUID
    user_id: str
    fulfillment: dict[str, Any] | None
    state: SubscriptionState
    plan: Plan
    terms: PlanTerms
    period_start: datetime
    period_end: datetime
    request: ChargeRequest
    payment_id: uuid.UUID
    result: ChargeResult | None = None
    error: str | None = None


async def claim(
    uow: UnitOfWork,
    now: datetime,
    limit: int,
    skip: Collection[uuid.UUID],
    scope: DueScope = EVERYONE,
) -> Sequence[asyncpg.Record]:
    """Lock up to `limit` plain renewals in `scope` due at `now` (none of `skip`)."""
    return await statements.claim(uow.session, now, limit, skip, scope)


async def renew(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    records: Sequence[asyncpg.Record],
    free_plan: Plan,
    actor: str,
    now: datetime,
    skipped: set[uuid.UUID],
    scope: DueScope = EVERYONE,
) -> int:
    """Charge and record the claimed renewals; returns how many changed. Rows the
    gateway could not take are queued with backoff, rows still processing wait for
    their webhook: both go into `skipped` for this run."""
    plans = {
        plan_id: (plan, terms_of(plan), f"{_RENEWAL.lower()} {plan.name}")
        for plan_id, plan in (
            await uow.plans.by_ids({record["plan_id"] for record in records})
        ).items()
    }
    renewals = []
    plain, charged = await statements.recheck(uow.session, records, now, scope)
    for record, payment_id in zip(records, new_ids(len(records)), strict=True):
        if record["id"] not in plain:
            continue  # acted on by another worker meanwhile: the general path decides
        if record["id"] in charged:  # charged already, still processing: a webhook settles it
            skipped.add(record["id"])
        else:
            renewals.append(_renewal(record, *plans[record["plan_id"]], payment_id))
    await _charge_all(gateway, renewals)
    deferred = [(r.id, r.user_id, r.error or "") for r in renewals if r.result is None]
    if deferred:
        await uow.billing.defer_charges(deferred, now)
        skipped.update(subscription_id for subscription_id, _, _ in deferred)
    decided, states = [], []
    for renewal in renewals:
        if renewal.result is None:
            continue
        status = status_of_outcome(renewal.result.outcome)
        amount = renewal.request.amount_cents
        transition = lifecycle.payment_result(renewal.state, renewal.terms, amount, status, now)
        decided.append((renewal, renewal.result, status, transition))
        if transition is None:  # still processing: its webhook settles it
            skipped.add(renewal.id)
            continue
        after = transition.after
        states.append(
            (renewal.id, after.is_current, renewal.plan.id, None, *updated_columns(after))
        )
        changed = Changed(
            renewal.id, renewal.user_id, renewal.plan, renewal.fulfillment, transition
        )
        for event in events_for(changed, free_plan, actor, now):
            uow.record(event)
    driver = await session_driver(uow.session)
    await plan_as_key_lookups(driver)
    # The invoice counter stays locked from the draw to the commit (gapless numbers), so
    # everything that does not carry a number is written before it: the states, then the
    # payments and lines (their invoice foreign keys checked at commit, once the
    # invoices exist).
    await statements.defer_invoice_references(driver)
    await statements.write_states(driver, states, now)
    payments, invoices, lines = [], [], []
    for (renewal, result, status, _), invoice_id in zip(
        decided, new_ids(len(decided)), strict=True
    ):
        amount = renewal.request.amount_cents
        invoice_status = _INVOICE_STATUS_AFTER[result.outcome]
        paid = invoice_status is InvoiceStatus.PAID
        invoices.append(
            (
                invoice_id,
                renewal.user_id,
                renewal.id,
                invoice_status,
                renewal.request.currency,
                amount,
                amount if paid else 0,
                renewal.period_start,
                renewal.period_end,
                now if paid else None,
            )
        )
        lines.append(
            (
                invoice_id,
                renewal.plan.name,
                amount,
                renewal.terms.code,
                renewal.period_start,
                renewal.period_end,
            )
        )
        payments.append(
            (
                renewal.payment_id,
                renewal.user_id,
                renewal.id,
                invoice_id,
                amount,
                renewal.request.currency,
                result.processor_payment_id or None,
                result.processor_status,
                status,
                renewal.request.payment_method_id,
                renewal.request.idempotency_key,
                renewal.period_start,
                result.next_action_url,
                result.client_secret,
                result.failure_message,
            )
        )
    await statements.write_payments_and_lines(
        driver, payments, lines, platform=gateway.platform, now=now
    )
    numbers = await uow.billing.invoice_numbers(len(decided))
    history = []
    for (renewal, result, _, transition), number in zip(decided, numbers, strict=True):
        if transition is not None:
            details: dict[str, object] = {
                "invoice": number,
                "amountCents": renewal.request.amount_cents,
            }
            if result.failure_message:
                details["failure"] = result.failure_message
            history.append(history_row(renewal.id, renewal.user_id, transition, actor, details))
    await statements.write_invoices(driver, invoices, numbers, now)
    await statements.write_history(driver, history, now)
    return len(states)


def _renewal(
    record: asyncpg.Record, plan: Plan, terms: PlanTerms, description: str, payment_id: uuid.UUID
) -> _Renewal:
    state = state_of_row(record, terms.code, None)
    period_start, anchor = record["current_period_end"], record["billing_cycle_anchor"]
    period_end = next_period_end(anchor, period_start, terms.interval, terms.interval_count)
    subscription_id, user_id = record["id"], record["user_id"]
    subscription_key = str(subscription_id)
    request = ChargeRequest(
        customer_id=record["customer_id"],
        payment_method_id=record["payment_method_id"],
        amount_cents=price_for_period(
            record["price_cents"],
            terms.price_cents,
            record["scheduled_price_cents"],
            record["scheduled_price_at"],
            period_start,
        ),
        currency=record["currency"],
        description=description,
        idempotency_key=idempotency_key(subscription_key, period_start.isoformat(), "0"),
        off_session=True,
        metadata={
            "payment_id": str(payment_id),
            "subscription_id": subscription_key,
            "user_id": user_id,
            "purpose": _RENEWAL,
        },
    )
    fulfillment = orjson.loads(record["fulfillment"]) if record["fulfillment"] else None
    return _Renewal(
        subscription_id,
        user_id,
        fulfillment,
        state,
        plan,
        terms,
        period_start,
        period_end,
        request,
        payment_id,
    )


async def _charge_all(gateway: PaymentGateway, renewals: list[_Renewal]) -> None:
    async def charge(renewal: _Renewal) -> None:
        try:
            renewal.result = await send_charge(gateway, renewal.request)
        except DomainError as error:
            renewal.error = error.message
            log.warning("charge for %s deferred: %s", renewal.id, error.message)

    await each_at_most(GATEWAY_CONCURRENCY, renewals, charge)
