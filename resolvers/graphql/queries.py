"""Query resolvers: read the context, call one read use case, map the result."""

from __future__ import annotations

from resolvers.graphql import mapping
from schema import money_types, types
from schema.inputs import SubscriptionFilterInput
from schema.permissions import Info
from services.billing.rules import InvoiceStatus
from services.clocks import control as clocks
from services.collection import test_clock as clock_control
from services.collection import upcoming
from services.credits import ledger
from services.pricing import catalog
from services.reads import queries
from services.subscriptions import plan_changes
from services.subscriptions.lifecycle import Status
from services.subscriptions.state import SubscriptionFilter


async def plans(info: Info, include_archived: bool = False) -> list[types.Plan]:
    if include_archived and not (info.context.principal and info.context.principal.is_admin):
        include_archived = False  # archived plans are an admin's concern
    views = await catalog.list_plans(info.context.deps, include_archived=include_archived)
    return [mapping.plan(v) for v in views]


async def plan(info: Info, code: str) -> types.Plan | None:
    view = await catalog.get_plan(info.context.deps, code)
    return mapping.plan(view) if view else None


async def my_subscription(info: Info) -> types.Subscription | None:
    view = await queries.subscription_of(info.context.deps, info.context.user().user_id)
    return mapping.subscription(view) if view else None


async def my_entitlements(info: Info) -> types.Entitlements:
    view = await queries.entitlements_of(info.context.deps, info.context.user().user_id)
    return mapping.entitlements(view)


async def invoices(
    info: Info, first: int = 20, after: str | None = None, user_id: str | None = None
) -> types.InvoiceConnection:
    """Your invoices; an admin may name anyone's (the permission checked it)."""
    owner = user_id if user_id is not None else info.context.user().user_id
    page = await queries.invoices_of(info.context.deps, owner, first, after)
    return mapping.invoice_connection(page)


async def all_invoices(
    info: Info, status: InvoiceStatus | None = None, first: int = 20, after: str | None = None
) -> types.InvoiceConnection:
    page = await queries.all_invoices(info.context.deps, status, first, after)
    return mapping.invoice_connection(page)


async def seller(info: Info) -> types.Seller:
    settings = info.context.deps.settings
    return types.Seller(
        name=settings.seller_name, address=settings.seller_address, tax_id=settings.seller_tax_id
    )


async def payment_methods(info: Info) -> list[types.PaymentMethod]:
    views = await queries.payment_methods_of(info.context.deps, info.context.user().user_id)
    return [mapping.payment_method(v) for v in views]


async def me(info: Info) -> types.Me:
    user = info.context.user()
    granted = await queries.entitlements_of(info.context.deps, user.user_id)
    balance, currency = await ledger.balance_of(info.context.deps, user.user_id)
    return types.Me(
        user_id=user.user_id,
        roles=sorted(role.value for role in user.roles),
        entitlements=mapping.entitlements(granted),
        credit_balance_cents=balance,
        credit_currency=currency,
    )


async def subscription_status(info: Info, user_id: str) -> types.SubscriptionStatusInfo:
    return mapping.status_info(await queries.status_of(info.context.deps, user_id))


async def entitlements(info: Info, user_id: str) -> types.Entitlements:
    return mapping.entitlements(await queries.entitlements_of(info.context.deps, user_id))


async def admin_subscriptions(
    info: Info,
    filter: SubscriptionFilterInput | None = None,
    first: int = 20,
    after: str | None = None,
) -> types.SubscriptionConnection:
    filters = SubscriptionFilter(
        status=Status(filter.status) if filter and filter.status else None,
        plan_code=filter.plan_code if filter else None,
        user_id=filter.user_id if filter else None,
        user_id_prefix=filter.user_id_prefix if filter else None,
    )
    page = await queries.admin_subscriptions(info.context.deps, filters, first, after)
    return mapping.subscription_connection(page)


async def subscription_history(
    info: Info, subscription_id: str
) -> list[types.SubscriptionHistoryEntry]:
    views = await queries.history_of(info.context.deps, info.context.user(), subscription_id)
    return [mapping.history_entry(v) for v in views]


async def pricing_history(info: Info, plan_code: str) -> list[money_types.PricingRecord]:
    views = await catalog.pricing_history(info.context.deps, plan_code)
    return [mapping.pricing_record(v) for v in views]


async def preview_plan_price(
    info: Info, plan_code: str, price_cents: int
) -> money_types.PlanPricePreview:
    view = await catalog.preview_plan_price(info.context.deps, plan_code, price_cents)
    return money_types.PlanPricePreview(
        subscribers_keeping=view.subscribers_keeping,
        subscribers_moving=view.subscribers_moving,
        monthly_recurring_delta_cents=view.monthly_recurring_delta_cents,
    )


async def test_clock(info: Info) -> types.TestClock:
    view = clock_control.read(info.context.deps)
    return types.TestClock(now=view.now, applied=view.applied)


async def test_clocks(info: Info) -> list[types.TestClock]:
    return [mapping.test_clock(view) for view in await clocks.views(info.context.deps)]


async def preview_plan_change(
    info: Info, plan_code: str, user_id: str | None = None
) -> types.PlanChangePreview:
    """Yours; support previews a customer's (`userId`) before changePlanFor."""
    owner = user_id if user_id is not None else info.context.user().user_id
    deps = await clocks.deps_for(info.context.deps, owner)
    return mapping.preview(await plan_changes.preview(deps, owner, plan_code))


async def upcoming_invoice(info: Info) -> types.UpcomingInvoice | None:
    view = await upcoming.upcoming_invoice(info.context.deps, info.context.user().user_id)
    if view is None:
        return None
    return types.UpcomingInvoice(
        currency=view.currency,
        total_cents=view.total_cents,
        due_at=view.due_at,
        lines=[mapping.invoice_line(line) for line in view.lines],
    )


def _simulated(found: list[upcoming.SimulatedInvoice]) -> list[money_types.SimulatedInvoice]:
    return [
        money_types.SimulatedInvoice(
            due_at=invoice.due_at,
            total_cents=invoice.total_cents,
            currency=invoice.currency,
            lines=[mapping.invoice_line(line) for line in invoice.lines],
        )
        for invoice in found
    ]


async def simulate_invoices(
    info: Info, user_id: str, cycles: int
) -> list[money_types.SimulatedInvoice]:
    return _simulated(await upcoming.simulate_invoices(info.context.deps, user_id, cycles))


async def simulate_subscribe(
    info: Info, plan_code: str, cycles: int, promotion_code: str | None = None
) -> list[money_types.SimulatedInvoice]:
    me = info.context.user().user_id
    deps = info.context.deps
    return _simulated(
        await upcoming.simulate_subscribe(deps, me, plan_code, promotion_code, cycles)
    )
