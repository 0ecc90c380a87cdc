"""Coupon and promotion code resolvers: admins define them, customers redeem codes at
checkout or on their subscription, and see what subscribing would cost."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

import strawberry

from resolvers.graphql import mapping
from resolvers.graphql.mutations import acting_for
from schema import money_types, types
from schema.admin_inputs import ApplyPromotionCodeForInput
from schema.inputs import (
    ApplyPromotionCodeInput,
    ArchiveCouponInput,
    CreateCouponInput,
    CreatePromotionCodeInput,
)
from schema.permissions import Info
from services.common.errors import DomainError
from services.discounts import coupons, redemption
from services.platform.deps import Deps
from services.reads import queries
from services.subscriptions import checkout
from services.subscriptions.interruptions import ActingFor


def _coupon(view: coupons.CouponView) -> money_types.Coupon:
    return money_types.Coupon(
        code=view.code,
        name=view.name,
        percent_off=view.percent_off,
        amount_off_cents=view.amount_off_cents,
        currency=view.currency,
        duration=view.duration,
        duration_in_cycles=view.duration_in_cycles,
        applies_to_plans=list(view.applies_to_plans),
        max_redemptions=view.max_redemptions,
        times_redeemed=view.times_redeemed,
        redeem_by=view.redeem_by,
        archived=view.archived,
        max_redemptions_per_customer=view.max_redemptions_per_customer,
    )


async def _coupon_payload(call: Awaitable[coupons.CouponView]) -> money_types.CouponPayload:
    try:
        return money_types.CouponPayload(coupon=_coupon(await call), errors=[])
    except DomainError as error:
        return money_types.CouponPayload(coupon=None, errors=[mapping.user_error(error)])


async def create_coupon(info: Info, input: CreateCouponInput) -> money_types.CouponPayload:
    command = coupons.CreateCoupon(
        code=input.code,
        name=input.name,
        duration=input.duration,
        percent_off=input.percent_off,
        amount_off_cents=input.amount_off_cents,
        currency=input.currency,
        duration_in_cycles=input.duration_in_cycles,
        applies_to_plans=tuple(input.applies_to_plans),
        max_redemptions=input.max_redemptions,
        redeem_by=input.redeem_by,
        max_redemptions_per_customer=input.max_redemptions_per_customer,
    )
    return await _coupon_payload(coupons.create_coupon(info.context.deps, command))


async def archive_coupon(info: Info, input: ArchiveCouponInput) -> money_types.CouponPayload:
    return await _coupon_payload(coupons.archive_coupon(info.context.deps, input.code))


async def coupons_list(info: Info, include_archived: bool = False) -> list[money_types.Coupon]:
    views = await coupons.list_coupons(info.context.deps, include_archived=include_archived)
    return [_coupon(view) for view in views]


async def create_promotion_code(
    info: Info, input: CreatePromotionCodeInput
) -> money_types.PromotionCodePayload:
    command = coupons.CreatePromotionCode(
        input.coupon_code,
        input.code,
        input.max_redemptions,
        input.expires_at,
        input.first_time_only,
    )
    try:
        view = await coupons.create_promotion_code(info.context.deps, command)
    except DomainError as error:
        return money_types.PromotionCodePayload(
            promotion_code=None, errors=[mapping.user_error(error)]
        )
    return money_types.PromotionCodePayload(promotion_code=_promotion_code(view), errors=[])


async def promotion_codes(info: Info) -> list[money_types.PromotionCode]:
    return [_promotion_code(v) for v in await coupons.list_promotion_codes(info.context.deps)]


def _promotion_code(view: coupons.PromotionCodeView) -> money_types.PromotionCode:
    return money_types.PromotionCode(
        code=view.code,
        coupon_code=view.coupon_code,
        max_redemptions=view.max_redemptions,
        times_redeemed=view.times_redeemed,
        expires_at=view.expires_at,
        first_time_only=view.first_time_only,
        active=view.active,
    )


async def apply_promotion_code(
    info: Info, input: ApplyPromotionCodeInput
) -> types.SubscriptionPayload:
    return await _applied(info.context.deps, info.context.user().user_id, input.code, None)


async def apply_promotion_code_for(
    info: Info, input: ApplyPromotionCodeForInput
) -> types.SubscriptionPayload:
    try:
        acting, deps = await acting_for(info, input.user_id, input.reason)
    except DomainError as error:
        return types.SubscriptionPayload(
            subscription=None, payment=None, errors=[mapping.user_error(error)]
        )
    return await _applied(deps, input.user_id, input.code, acting)


async def _applied(
    deps: Deps, user_id: str, code: str, acting: ActingFor | None
) -> types.SubscriptionPayload:
    try:
        await checkout.apply_promotion_code(deps, user_id, code, acting)
    except DomainError as error:
        return types.SubscriptionPayload(
            subscription=None, payment=None, errors=[mapping.user_error(error)]
        )
    view = await queries.subscription_of(deps, user_id)
    subscription = mapping.subscription(view) if view else None
    return types.SubscriptionPayload(subscription=subscription, payment=None, errors=[])


async def preview_subscribe(
    info: Info, plan_code: str, promotion_code: str | None = None
) -> money_types.SubscribePreview:
    view = await checkout.preview_subscribe(
        info.context.deps, info.context.user().user_id, plan_code, promotion_code
    )
    return money_types.SubscribePreview(
        plan_code=view.plan_code,
        currency=view.currency,
        trial_days=view.trial_days,
        amount_due_now_cents=view.amount_due_now_cents,
        first_charge_at=view.first_charge_at,
        first_charge_cents=view.first_charge_cents,
        lines=[mapping.invoice_line(line) for line in view.lines],
    )


async def subscription_discount(
    info: strawberry.Info, subscription_id: str
) -> types.Discount | None:
    view = await redemption.discount_of(info.context.deps, uuid.UUID(subscription_id))
    if view is None:
        return None
    return types.Discount(
        coupon_code=view.coupon_code,
        percent_off=view.percent_off,
        amount_off_cents=view.amount_off_cents,
        cycles_left=view.cycles_left,
        ends_at=view.ends_at,
    )
