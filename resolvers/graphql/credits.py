"""Credit balance and refund resolvers: admins adjust credit and refund payments;
customers read their balance and ledger."""

from __future__ import annotations

import strawberry

from resolvers.graphql import mapping
from schema import money_types
from schema.inputs import (
    AdjustCreditInput,
    RefundPaymentInput,
    RemoveCustomerPriceInput,
    SetCustomerPriceInput,
)
from schema.permissions import Info
from schema.types import PageInfo
from services.clocks import control as clocks
from services.common.errors import DomainError
from services.credits import ledger, refunds
from services.pricing import customer_prices


def _entry(view: ledger.CreditEntryView) -> money_types.CreditEntry:
    return money_types.CreditEntry(
        id=strawberry.ID(str(view.id)),
        amount_cents=view.amount_cents,
        balance_after_cents=view.balance_after_cents,
        currency=view.currency,
        kind=view.kind,
        reason=view.reason,
        invoice_id=strawberry.ID(view.invoice_id) if view.invoice_id else None,
        created_at=view.created_at,
    )


async def adjust_credit(info: Info, input: AdjustCreditInput) -> money_types.CreditEntryPayload:
    command = ledger.AdjustCredit(input.user_id, input.amount_cents, input.currency, input.reason)
    try:
        deps = await clocks.deps_for(info.context.deps, input.user_id)  # a clocked customer
        view = await ledger.adjust_credit(deps, info.context.user().user_id, command)
    except DomainError as error:
        return money_types.CreditEntryPayload(entry=None, errors=[mapping.user_error(error)])
    return money_types.CreditEntryPayload(entry=_entry(view), errors=[])


async def credit_ledger(
    info: Info, first: int = 20, after: str | None = None, user_id: str | None = None
) -> money_types.CreditEntryConnection:
    """Your own ledger; an admin may name anyone's (the permission checked it)."""
    owner = user_id if user_id is not None else info.context.user().user_id
    page = await ledger.ledger_of(info.context.deps, owner, first, after)
    nodes = [_entry(view) for view in page.items]
    edges = [
        money_types.CreditEntryEdge(cursor=ledger.entry_cursor(view.id), node=node)
        for view, node in zip(page.items, nodes, strict=True)
    ]
    return money_types.CreditEntryConnection(
        edges=edges,
        nodes=nodes,
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )


def _note(note: refunds.CreditNoteView) -> money_types.CreditNote:
    return money_types.CreditNote(
        number=note.number,
        invoice_id=strawberry.ID(str(note.invoice_id)),
        amount_cents=note.amount_cents,
        currency=note.currency,
        reason=note.reason,
        lines=[
            money_types.CreditNoteLine(
                description=str(line["description"]), amount_cents=int(line["amountCents"])
            )
            for line in note.lines
        ],
        created_at=note.created_at,
    )


async def credit_notes(
    info: Info, user_id: str | None = None, first: int = 50
) -> list[money_types.CreditNote]:
    """Yours; an admin may name anyone's (the permission checked it)."""
    owner = user_id if user_id is not None else info.context.user().user_id
    return [_note(v) for v in await refunds.credit_notes_of(info.context.deps, owner, first)]


def _refund(view: refunds.RefundView) -> money_types.Refund:
    note = view.credit_note
    return money_types.Refund(
        id=strawberry.ID(str(view.id)),
        payment_id=strawberry.ID(str(view.payment_id)),
        invoice_id=strawberry.ID(str(view.invoice_id)),
        amount_cents=view.amount_cents,
        currency=view.currency,
        status=view.status,
        reason=view.reason,
        to_credit_balance=view.to_credit_balance,
        credit_note=_note(note) if note else None,
        created_at=view.created_at,
    )


async def refund_payment(info: Info, input: RefundPaymentInput) -> money_types.RefundPayload:
    command = refunds.RefundPayment(
        payment_id=input.payment_id,
        reason=input.reason,
        amount_cents=input.amount_cents,
        to_credit_balance=input.to_credit_balance,
        idempotency_key=input.idempotency_key,
    )
    try:
        view = await refunds.refund_payment(info.context.deps, info.context.user().user_id, command)
    except DomainError as error:
        return money_types.RefundPayload(refund=None, errors=[mapping.user_error(error)])
    return money_types.RefundPayload(refund=_refund(view), errors=[])


async def user_payments(
    info: Info, user_id: str, first: int = 20
) -> list[money_types.PaymentRecord]:
    views = await refunds.payments_of(info.context.deps, user_id, first)
    return [
        money_types.PaymentRecord(
            id=strawberry.ID(str(v.id)),
            purpose=v.purpose,
            status=v.status,
            amount_cents=v.amount_cents,
            amount_refunded_cents=v.amount_refunded_cents,
            currency=v.currency,
            invoice_number=v.invoice_number,
            created_at=v.created_at,
        )
        for v in views
    ]


async def set_customer_price(
    info: Info, input: SetCustomerPriceInput
) -> money_types.CustomerPricePayload:
    command = customer_prices.SetCustomerPrice(
        input.user_id, input.plan_code, input.price_cents, input.until
    )
    admin = info.context.user().user_id
    try:
        view = await customer_prices.set_customer_price(info.context.deps, admin, command)
    except DomainError as error:
        return money_types.CustomerPricePayload(
            customer_price=None, errors=[mapping.user_error(error)]
        )
    price = money_types.CustomerPrice(
        user_id=view.user_id,
        plan_code=view.plan_code,
        price_cents=view.price_cents,
        until=view.until,
    )
    return money_types.CustomerPricePayload(customer_price=price, errors=[])


async def remove_customer_price(
    info: Info, input: RemoveCustomerPriceInput
) -> money_types.CustomerPricePayload:
    try:
        await customer_prices.remove_customer_price(
            info.context.deps, input.user_id, input.plan_code
        )
    except DomainError as error:
        return money_types.CustomerPricePayload(
            customer_price=None, errors=[mapping.user_error(error)]
        )
    return money_types.CustomerPricePayload(customer_price=None, errors=[])
