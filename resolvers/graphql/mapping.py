"""Service views → GraphQL types, and business errors → UserError."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from schema import money_types, types
from services.billing.payments import PaymentView
from services.billing.rules import Line
from services.billing.views import InvoiceLineView, InvoiceView, PaymentMethodView
from services.clocks.control import TestClockView
from services.common.errors import DomainError
from services.common.pagination import Page, encode_cursor
from services.pricing.policy import LifecyclePolicy
from services.pricing.views import PlanView, PricingRecordView
from services.reads.queries import StatusView
from services.subscriptions.fulfillment import Address, Channel, Fulfillment
from services.subscriptions.plan_changes import PlanChangePreview
from services.subscriptions.views import EntitlementsView, HistoryView, SubscriptionView


def user_error(error: DomainError) -> types.UserError:
    return types.UserError(code=error.code, field=error.field, message=error.message)


def plan(view: PlanView) -> types.Plan:
    return types.Plan(
        code=view.code,
        name=view.name,
        description=view.description,
        kind=view.kind,
        price_cents=view.price_cents,
        currency=view.currency,
        interval=view.interval,
        interval_count=view.interval_count,
        trial_days=view.trial_days,
        entitlements=list(view.entitlements),
        grace_entitlements=list(view.grace_entitlements),
        tier_rank=view.tier_rank,
        valid_days=view.valid_days,
        archived=view.archived,
        policy=plan_policy(view.policy),
        plan_id=str(view.id),
    )


def plan_policy(policy: LifecyclePolicy) -> types.PlanPolicy:
    return types.PlanPolicy(
        proration=policy.proration,
        upgrade_timing=policy.upgrade_timing,
        downgrade_timing=policy.downgrade_timing,
        retry_days=list(policy.retry_days),
        grace_days=policy.grace_days,
        after_grace=policy.after_grace,
    )


def entitlements(view: EntitlementsView) -> types.Entitlements:
    return types.Entitlements(
        user_id=view.user_id, tier=view.tier, features=list(view.features), status=view.status
    )


def fulfillment(data: dict[str, Any] | None) -> types.Fulfillment | None:
    if not data:
        return None
    address = data.get("address")
    return types.Fulfillment(
        channel=Channel(data["channel"]),
        address=types.Address(**address) if address else None,
        store_id=data.get("storeId"),
    )


def subscription(view: SubscriptionView) -> types.Subscription:
    next_plan = view.next_charge_plan
    return types.Subscription(
        id=strawberry.ID(str(view.id)),
        user_id=view.user_id,
        plan=plan(view.plan),
        status=view.status,
        payment_confirmation=view.payment_confirmation,
        current_period_start=view.current_period_start,
        current_period_end=view.current_period_end,
        trial_start=view.trial_start,
        trial_end=view.trial_end,
        cancel_at_period_end=view.cancel_at_period_end,
        cancelled_at=view.cancelled_at,
        cancel_reason=view.cancel_reason,
        activated_at=view.activated_at,
        grace_expires_at=view.grace_expires_at,
        next_retry_at=view.next_retry_at,
        resumes_at=view.resumes_at,
        price_paid_cents=view.price_paid_cents,
        price_cents=view.price_cents,
        scheduled_price_change=types.ScheduledPriceChange(
            price_cents=view.scheduled_price_change.price_cents,
            effective_at=view.scheduled_price_change.effective_at,
        )
        if view.scheduled_price_change
        else None,
        price_override=types.PriceOverride(
            price_cents=view.price_override[0], until=view.price_override[1]
        )
        if view.price_override
        else None,
        currency=view.currency,
        pending_plan=plan(view.pending_plan) if view.pending_plan else None,
        entitlements=entitlements(view.entitlements),
        status_updated_at=view.status_updated_at,
        next_charge_at=view.next_charge_at,
        next_charge_plan=plan(next_plan) if next_plan else None,
        fulfillment=fulfillment(view.fulfillment),
        created_at=view.created_at,
    )


def payment(view: PaymentView | None) -> types.Payment | None:
    if view is None:
        return None
    return types.Payment(
        id=strawberry.ID(str(view.id)) if view.id else None,
        status=view.status,
        outcome=view.outcome,
        amount_cents=view.amount_cents,
        currency=view.currency,
        invoice_number=view.invoice_number,
        processor_payment_id=view.processor_payment_id,
        client_secret=view.client_secret,
        failure_message=view.failure_message,
    )


def invoice_line(line: InvoiceLineView | Line) -> types.InvoiceLine:
    return types.InvoiceLine(
        kind=line.kind,
        description=line.description,
        amount_cents=line.amount_cents,
        plan_code=line.plan_code,
        period_start=line.period_start,
        period_end=line.period_end,
    )


def _id(value: uuid.UUID | None) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None


def invoice(view: InvoiceView) -> types.Invoice:
    return types.Invoice(
        id=strawberry.ID(str(view.id)),
        number=view.number,
        user_id=view.user_id,
        subscription_id=_id(view.subscription_id),
        quota_pack_id=_id(view.quota_pack_id),
        status=view.status,
        currency=view.currency,
        total_cents=view.total_cents,
        amount_paid_cents=view.amount_paid_cents,
        amount_refunded_cents=view.amount_refunded_cents,
        amount_credited_cents=view.amount_credited_cents,
        period_start=view.period_start,
        period_end=view.period_end,
        paid_at=view.paid_at,
        created_at=view.created_at,
        lines=[invoice_line(line) for line in view.lines],
    )


def invoice_connection(page: Page[InvoiceView]) -> types.InvoiceConnection:
    nodes = [invoice(v) for v in page.items]
    edges = [
        types.InvoiceEdge(cursor=encode_cursor(v.created_at, v.id), node=n)
        for v, n in zip(page.items, nodes, strict=True)
    ]
    return types.InvoiceConnection(
        edges=edges,
        nodes=nodes,
        page_info=types.PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )


def subscription_connection(page: Page[SubscriptionView]) -> types.SubscriptionConnection:
    nodes = [subscription(v) for v in page.items]
    edges = [
        types.SubscriptionEdge(cursor=encode_cursor(v.created_at, v.id), node=n)
        for v, n in zip(page.items, nodes, strict=True)
    ]
    return types.SubscriptionConnection(
        edges=edges,
        nodes=nodes,
        page_info=types.PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )


def payment_method(view: PaymentMethodView) -> types.PaymentMethod:
    return types.PaymentMethod(
        id=view.id,
        brand=view.brand,
        last4=view.last4,
        exp_month=view.exp_month,
        exp_year=view.exp_year,
        holder_name=view.holder_name,
        holder_zip=view.holder_zip,
        is_default=view.is_default,
        platform=view.platform,
    )


def history_entry(view: HistoryView) -> types.SubscriptionHistoryEntry:
    return types.SubscriptionHistoryEntry(
        from_status=view.from_status,
        to_status=view.to_status,
        reason=view.reason,
        note=view.note,
        actor=view.actor,
        occurred_at=view.occurred_at,
        from_plan_code=view.from_plan_code,
        plan_code=view.plan_code,
    )


def pricing_record(view: PricingRecordView) -> money_types.PricingRecord:
    return money_types.PricingRecord(
        plan_code=view.plan_code,
        price_cents=view.price_cents,
        previous_price_cents=view.previous_price_cents,
        currency=view.currency,
        description=view.description,
        changed_by=view.changed_by,
        changed_at=view.changed_at,
        note=view.note,
        existing_subscribers=view.existing_subscribers,
        move_at=view.move_at,
    )


def fulfillment_input(data: Any) -> Fulfillment | None:
    """FulfillmentInput → domain value (validated by the service)."""
    if data is None:
        return None
    address = data.address
    return Fulfillment(
        channel=Channel(data.channel),
        address=Address(
            line1=address.line1,
            city=address.city,
            postal_code=address.postal_code,
            country=address.country,
            line2=address.line2,
            region=address.region,
        )
        if address
        else None,
        store_id=data.store_id,
    )


def status_info(view: StatusView) -> types.SubscriptionStatusInfo:
    return types.SubscriptionStatusInfo(
        user_id=view.user_id,
        status=view.status,
        plan_code=view.plan_code,
        tier=view.tier,
        features=list(view.features),
        current_period_end=view.current_period_end,
    )


def preview(view: PlanChangePreview) -> types.PlanChangePreview:
    return types.PlanChangePreview(
        plan_code=view.plan_code,
        is_upgrade=view.is_upgrade,
        amount_due_cents=view.amount_due_cents,
        currency=view.currency,
        effective_at=view.effective_at,
        lines=[invoice_line(line) for line in view.lines],
        credit_cents=view.credit_cents,
    )


def test_clock(view: TestClockView) -> types.TestClock:
    return types.TestClock(
        now=view.now,
        applied=view.applied,
        id=strawberry.ID(str(view.id)),
        name=view.name,
        status=view.status,
        customers=view.customers,
    )
