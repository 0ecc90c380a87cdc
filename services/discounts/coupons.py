"""Admin use cases for coupons and their promotion codes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from models import Coupon, PromotionCode
from services.common.errors import DomainError, ErrorCode
from services.common.text import check_text
from services.discounts.rules import CouponTerms, Duration, check_code, check_coupon, check_limit
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.pricing.rules import normalize_currency

MAX_NAME = 200


@dataclass(frozen=True)
class CreateCoupon:
    code: str
    name: str
    duration: Duration
    percent_off: int | None = None
    amount_off_cents: int | None = None
    currency: str | None = None
    duration_in_cycles: int | None = None
    applies_to_plans: tuple[str, ...] = ()
    max_redemptions: int | None = None
    redeem_by: datetime | None = None
    max_redemptions_per_customer: int | None = 1  # None: no limit per customer


@dataclass(frozen=True)
class CreatePromotionCode:
    coupon_code: str
    code: str
    max_redemptions: int | None = None
    expires_at: datetime | None = None
    first_time_only: bool = False


@dataclass(frozen=True)
class CouponView:
    code: str
    name: str
    percent_off: int | None
    amount_off_cents: int | None
    currency: str | None
    duration: Duration
    duration_in_cycles: int | None
    applies_to_plans: tuple[str, ...]
    max_redemptions: int | None
    times_redeemed: int
    redeem_by: datetime | None
    archived: bool
    max_redemptions_per_customer: int | None

    @classmethod
    def of(cls, coupon: Coupon) -> CouponView:
        return cls(
            coupon.code,
            coupon.name,
            coupon.percent_off,
            coupon.amount_off_cents,
            coupon.currency,
            coupon.duration,
            coupon.duration_in_cycles,
            tuple(coupon.applies_to_plans),
            coupon.max_redemptions,
            coupon.times_redeemed,
            coupon.redeem_by,
            coupon.archived,
            coupon.max_redemptions_per_customer,
        )


@dataclass(frozen=True)
class PromotionCodeView:
    code: str
    coupon_code: str
    max_redemptions: int | None
    times_redeemed: int
    expires_at: datetime | None
    first_time_only: bool
    active: bool

    @classmethod
    def of(cls, promo: PromotionCode) -> PromotionCodeView:
        return cls(
            promo.code,
            promo.coupon.code,
            promo.max_redemptions,
            promo.times_redeemed,
            promo.expires_at,
            promo.first_time_only,
            promo.active,
        )


def terms_of(coupon: Coupon) -> CouponTerms:
    return CouponTerms(
        coupon.code,
        coupon.name,
        coupon.percent_off,
        coupon.amount_off_cents,
        coupon.currency,
        coupon.duration,
        coupon.duration_in_cycles,
        tuple(coupon.applies_to_plans),
    )


async def require_coupon(uow: UnitOfWork, code: str) -> Coupon:
    coupon = await uow.discounts.coupon(check_code(code, "couponCode"))
    if coupon is None or coupon.archived:
        raise DomainError(ErrorCode.COUPON_NOT_FOUND, f"no coupon {code!r}", "couponCode")
    return coupon


async def create_coupon(deps: Deps, cmd: CreateCoupon) -> CouponView:
    code = check_code(cmd.code)
    currency = normalize_currency(cmd.currency) if cmd.currency is not None else None
    terms = CouponTerms(
        code,
        check_text(cmd.name, "name", MAX_NAME, required=True),
        cmd.percent_off,
        cmd.amount_off_cents,
        currency,
        cmd.duration,
        cmd.duration_in_cycles,
        tuple(dict.fromkeys(cmd.applies_to_plans)),
    )
    check_coupon(terms)
    check_limit(cmd.max_redemptions, "maxRedemptions")
    check_limit(cmd.max_redemptions_per_customer, "maxRedemptionsPerCustomer")
    now = deps.clock.now()
    if cmd.redeem_by is not None and cmd.redeem_by <= now:
        raise DomainError(ErrorCode.INVALID_INPUT, "redeemBy must be in the future", "redeemBy")
    async with deps.uow() as uow:
        for plan_code in terms.applies_to_plans:
            if await uow.plans.by_code(plan_code) is None:
                raise DomainError(
                    ErrorCode.PLAN_NOT_FOUND, f"no plan {plan_code!r}", "appliesToPlans"
                )
        coupon = Coupon(
            id=uuid.uuid4(),
            code=code,
            name=terms.name,
            percent_off=terms.percent_off,
            amount_off_cents=terms.amount_off_cents,
            currency=currency,
            duration=terms.duration,
            duration_in_cycles=terms.duration_in_cycles,
            applies_to_plans=list(terms.applies_to_plans),
            max_redemptions=cmd.max_redemptions,
            max_redemptions_per_customer=cmd.max_redemptions_per_customer,
            times_redeemed=0,
            redeem_by=cmd.redeem_by,
            archived=False,
            created_at=now,
        )
        uow.discounts.add(coupon)
        try:
            await uow.commit()
        except IntegrityError as exc:
            raise DomainError(
                ErrorCode.COUPON_CODE_TAKEN, f"coupon {code!r} exists", "code"
            ) from exc
        return CouponView.of(coupon)


async def archive_coupon(deps: Deps, code: str) -> CouponView:
    """No new redemptions; discounts already given run their course."""
    async with deps.uow() as uow:
        coupon = await require_coupon(uow, code)
        coupon.archived = True
        await uow.commit()
        return CouponView.of(coupon)


async def list_coupons(deps: Deps, *, include_archived: bool = False) -> list[CouponView]:
    async with deps.uow() as uow:
        return [
            CouponView.of(c) for c in await uow.discounts.coupons(include_archived=include_archived)
        ]


async def list_promotion_codes(deps: Deps) -> list[PromotionCodeView]:
    async with deps.uow() as uow:
        return [PromotionCodeView.of(p) for p in await uow.discounts.promotion_codes()]


async def create_promotion_code(deps: Deps, cmd: CreatePromotionCode) -> PromotionCodeView:
    code = check_code(cmd.code)
    check_limit(cmd.max_redemptions, "maxRedemptions")
    now = deps.clock.now()
    if cmd.expires_at is not None and cmd.expires_at <= now:
        raise DomainError(ErrorCode.INVALID_INPUT, "expiresAt must be in the future", "expiresAt")
    async with deps.uow() as uow:
        coupon = await require_coupon(uow, cmd.coupon_code)
        promo = PromotionCode(
            id=uuid.uuid4(),
            code=code,
            coupon_id=coupon.id,
            coupon=coupon,
            max_redemptions=cmd.max_redemptions,
            times_redeemed=0,
            expires_at=cmd.expires_at,
            first_time_only=cmd.first_time_only,
            active=True,
            created_at=now,
        )
        uow.discounts.add(promo)
        try:
            await uow.commit()
        except IntegrityError as exc:
            raise DomainError(
                ErrorCode.COUPON_CODE_TAKEN, f"promotion code {code!r} exists", "code"
            ) from exc
        return PromotionCodeView.of(promo)
