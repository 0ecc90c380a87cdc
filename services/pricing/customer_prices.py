"""A customer's own price on a plan (admin): their invoices on that plan charge it from
the next one until `until` (open-ended without), without a copy of the plan. It wins
over the subscription's own price and over a scheduled move (pricing.rules.price_for_period)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import CustomerPrice, Plan, Subscription
from services.common.errors import DomainError, ErrorCode
from services.platform.auth import check_user_id
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.pricing.catalog import require_plan
from services.pricing.rules import PlanKind, check_price, price_for_period


@dataclass(frozen=True)
class SetCustomerPrice:
    user_id: str
    plan_code: str
    price_cents: int
    until: datetime | None = None


@dataclass(frozen=True)
class CustomerPriceView:
    user_id: str
    plan_code: str
    price_cents: int
    until: datetime | None


Override = tuple[int, datetime | None]  # a customer's own price and until when


def override_of(found: CustomerPrice | None) -> Override | None:
    return (found.price_cents, found.until) if found is not None else None


async def customer_price(uow: UnitOfWork, user_id: str, plan: Plan, at: datetime) -> int:
    """What an invoice of this customer on this plan starting at `at` charges before
    discounts: their own price while it lasts, else the plan's."""
    found = (await uow.plans.customer_prices([(user_id, plan.id)])).get((user_id, plan.id))
    return price_for_period(None, plan.price_cents, None, None, at, override_of(found))


def renewal_price(
    row: Subscription, charged_plan: Plan, period_start: datetime, override: Override | None
) -> int:
    """What the subscription's invoice for the period starting at `period_start`
    charges before discounts and usage: the customer's own price on the charged plan
    while it lasts, else the subscription's own price (a downgrade taking effect: the
    new plan's price of today)."""
    if charged_plan is not row.plan:
        return price_for_period(None, charged_plan.price_cents, None, None, period_start, override)
    return price_for_period(
        row.price_cents,
        row.plan.price_cents,
        row.scheduled_price_cents,
        row.scheduled_price_at,
        period_start,
        override,
    )


async def set_customer_price(deps: Deps, admin_id: str, cmd: SetCustomerPrice) -> CustomerPriceView:
    check_user_id(cmd.user_id)
    check_price(cmd.price_cents)
    now = deps.clock.now()
    if cmd.until is not None and cmd.until <= now:
        raise DomainError(ErrorCode.INVALID_INPUT, "until must be in the future", "until")
    async with deps.uow() as uow:
        plan = await require_plan(uow, cmd.plan_code, purchasable=False, kind=PlanKind.SUBSCRIPTION)
        await uow.plans.set_customer_price(
            CustomerPrice(
                user_id=cmd.user_id,
                plan_id=plan.id,
                price_cents=cmd.price_cents,
                until=cmd.until,
                created_by=admin_id,
                created_at=now,
            )
        )
        await uow.commit()
    return CustomerPriceView(cmd.user_id, plan.code, cmd.price_cents, cmd.until)


async def remove_customer_price(deps: Deps, user_id: str, plan_code: str) -> None:
    """The customer's next invoices on the plan charge their subscription's own price."""
    check_user_id(user_id)
    async with deps.uow() as uow:
        plan = await require_plan(uow, plan_code, purchasable=False)
        if not await uow.plans.remove_customer_price(user_id, plan.id):
            raise DomainError(
                ErrorCode.NOT_FOUND, f"{user_id} has no own price on {plan_code}", "planCode"
            )
        await uow.commit()
