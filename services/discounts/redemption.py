"""Redeeming promotion codes and putting discounts on invoices.

A code is redeemed at checkout (`subscribe(promotionCode)`) or on the current
subscription (`applyPromotionCode`, services/subscriptions/checkout.py); the subscription then carries the coupon's
discount for as many invoices as its duration says. Every invoice built for the
subscription (the first payment, the trial's conversion, renewals, an upgrade's
proration) gets a DISCOUNT line while the discount lasts; building one uses a cycle."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from models import Plan, PromotionCode, Subscription, SubscriptionDiscount
from services.billing.rules import Line, LineKind
from services.common.errors import DomainError, ErrorCode
from services.discounts.coupons import terms_of
from services.discounts.rules import (
    applicability_refusal,
    check_code,
    discount_line,
    expiry_refusal,
)
from services.messaging import events
from services.messaging.events import DomainEvent
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.pricing.periods import next_period_end


@dataclass(frozen=True)
class DiscountView:
    coupon_code: str
    promotion_code: str | None
    percent_off: int | None
    amount_off_cents: int | None
    cycles_left: int | None  # None: forever
    ends_at: datetime | None = None

    @classmethod
    def of(cls, discount: SubscriptionDiscount, promotion_code: str | None) -> DiscountView:
        coupon = discount.coupon
        return cls(
            coupon.code,
            promotion_code,
            coupon.percent_off,
            coupon.amount_off_cents,
            discount.cycles_left,
        )


def _invalid() -> DomainError:
    return DomainError(
        ErrorCode.PROMOTION_CODE_INVALID, "this promotion code is not valid", "promotionCode"
    )


async def usable_code(
    uow: UnitOfWork,
    code: str,
    user_id: str,
    plan: Plan,
    now: datetime,
    subscription_id: uuid.UUID | None = None,
) -> PromotionCode:
    """The promotion code, if this user may redeem it for this plan now (nothing taken),
    on `subscription_id` (a new checkout's, or the current one)."""
    try:
        promo = await uow.discounts.promotion_code(check_code(code, "promotionCode"))
    except DomainError as error:
        raise _invalid() from error
    if promo is None or not promo.active or promo.coupon.archived:
        raise _invalid()
    refusal = expiry_refusal(promo.coupon.redeem_by, promo.expires_at, now) or (
        applicability_refusal(terms_of(promo.coupon), plan.code, plan.currency)
    )
    if refusal is not None:
        raise refusal
    if promo.first_time_only and await uow.billing.had_business(user_id, subscription_id):
        raise DomainError(
            ErrorCode.COUPON_NOT_APPLICABLE,
            "this promotion code is for first-time customers",
            "promotionCode",
        )
    limit = promo.coupon.max_redemptions_per_customer
    if limit is not None and await uow.discounts.redemptions_by(user_id, promo.coupon_id) >= limit:
        raise DomainError(
            ErrorCode.COUPON_NOT_APPLICABLE,
            "you have already redeemed this offer"
            if limit == 1
            else f"this offer can be redeemed {limit} times per customer",
            "promotionCode",
        )
    return promo


async def redeem(
    uow: UnitOfWork, code: str, row: Subscription, plan: Plan, now: datetime
) -> SubscriptionDiscount:
    """Redeem `code` for the subscription (flushed, with its user lock held): the
    redemption counts are taken under their row locks, so limits hold under load."""
    promo = await usable_code(uow, code, row.user_id, plan, now, row.id)
    if await uow.discounts.discount(row.id) is not None:  # one that ran its course is not
        raise DomainError(
            ErrorCode.COUPON_NOT_APPLICABLE,
            "the subscription already carries a discount",
            "promotionCode",
        )
    if not await uow.discounts.take_redemption(promo.id, promo.coupon_id):
        raise DomainError(
            ErrorCode.PROMOTION_CODE_EXHAUSTED,
            "this promotion code has been used up",
            "promotionCode",
        )
    coupon = promo.coupon
    discount = SubscriptionDiscount(
        subscription_id=row.id,
        user_id=row.user_id,
        coupon_id=coupon.id,
        coupon=coupon,
        promotion_code_id=promo.id,
        cycles_left=terms_of(coupon).first_cycles(),
        started_at=now,
    )
    uow.discounts.add(discount)
    data = {
        "userId": row.user_id,
        "subscriptionId": str(row.id),
        "couponCode": coupon.code,
        "promotionCode": promo.code,
        "percentOff": coupon.percent_off,
        "amountOffCents": coupon.amount_off_cents,
        "currency": coupon.currency,
        "duration": coupon.duration.value,
        "durationInCycles": coupon.duration_in_cycles,
    }
    uow.record(DomainEvent(events.COUPON_REDEEMED, row.user_id, data, now))
    return discount


def discounted(discount: SubscriptionDiscount | None, lines: tuple[Line, ...]) -> tuple[Line, ...]:
    """The lines with the discount's DISCOUNT line added, while it lasts."""
    if discount is None or discount.cycles_left == 0:
        return lines
    line = discount_line(terms_of(discount.coupon), lines)
    return (*lines, line) if line is not None else lines


def use_cycle(discount: SubscriptionDiscount | None, lines: tuple[Line, ...]) -> None:
    """An invoice with a DISCOUNT line was built: one cycle is used (a discount at zero
    has run its course; its row stays as the record)."""
    if discount is None or discount.cycles_left is None:
        return
    if any(line.kind is LineKind.DISCOUNT for line in lines):
        discount.cycles_left = max(discount.cycles_left - 1, 0)


async def discount_of(deps: Deps, subscription_id: uuid.UUID) -> DiscountView | None:
    """The discount the subscription carries now, if any."""
    async with deps.uow() as uow:
        discount = await uow.discounts.discount(subscription_id)
        if discount is None or discount.cycles_left == 0:
            return None
        row = await uow.subscriptions.by_id(subscription_id)
        view = DiscountView.of(discount, None)
    if row is None or discount.cycles_left is None or row.current_period_end is None:
        return view
    # The next invoice covers the period from the current one's end; the last covered
    # period ends `cycles_left` periods later.
    end, anchor = row.current_period_end, row.billing_cycle_anchor or row.current_period_end
    for _ in range(discount.cycles_left):
        end = next_period_end(anchor, end, row.plan.interval, row.plan.interval_count)
    return replace(view, ends_at=end)


async def preview_discount(
    uow: UnitOfWork, code: str, user_id: str, plan: Plan, lines: tuple[Line, ...], now: datetime
) -> tuple[Line, ...]:
    """The lines as the code would discount them; refusals as redeeming would refuse."""
    promo = await usable_code(uow, code, user_id, plan, now)
    for limited in (promo, promo.coupon):
        if (
            limited.max_redemptions is not None
            and limited.times_redeemed >= limited.max_redemptions
        ):
            raise DomainError(
                ErrorCode.PROMOTION_CODE_EXHAUSTED,
                "this promotion code has been used up",
                "promotionCode",
            )
    line = discount_line(terms_of(promo.coupon), lines)
    return (*lines, line) if line is not None else lines
