"""Saved payment methods: add, make default, detach. Only processor ids and display
data are stored."""

from __future__ import annotations

from dataclasses import dataclass

from models import PaymentMethod
from services.billing.payments import attach_method
from services.billing.views import PaymentMethodView
from services.common.errors import DomainError, ErrorCode
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork


@dataclass(frozen=True)
class AddPaymentMethod:
    user_id: str
    payment_method_id: str
    holder_name: str | None = None
    holder_zip: str | None = None
    make_default: bool = False


async def _owned(uow: UnitOfWork, user_id: str, payment_method_id: str) -> PaymentMethod:
    method = await uow.billing.payment_method(payment_method_id)
    if method is None or method.user_id != user_id or not method.is_active:
        raise DomainError(
            ErrorCode.PAYMENT_METHOD_NOT_FOUND, "unknown payment method", "paymentMethodId"
        )
    return method


async def _make_default(uow: UnitOfWork, method: PaymentMethod) -> None:
    current = await uow.billing.default_payment_method(method.user_id)
    if current is not None and current.id != method.id:
        current.is_default = False
        await uow.session.flush()  # the partial unique index allows one default
    method.is_default = True


async def add(deps: Deps, cmd: AddPaymentMethod) -> PaymentMethodView:
    for value, field in ((cmd.holder_name, "holderName"), (cmd.holder_zip, "holderZip")):
        if value is not None and len(value) > 200:
            raise DomainError(ErrorCode.INVALID_INPUT, f"{field} is too long", field)
    async with deps.uow() as uow:
        await uow.subscriptions.lock_user(cmd.user_id)
        method = await attach_method(
            uow,
            deps.gateway,
            cmd.user_id,
            cmd.payment_method_id,
            holder_name=cmd.holder_name,
            holder_zip=cmd.holder_zip,
        )
        if cmd.make_default:
            await _make_default(uow, method)
        await uow.commit()
        return PaymentMethodView.of(method)


async def set_default(deps: Deps, user_id: str, payment_method_id: str) -> PaymentMethodView:
    async with deps.uow() as uow:
        await uow.subscriptions.lock_user(user_id)
        method = await _owned(uow, user_id, payment_method_id)
        await _make_default(uow, method)
        await uow.commit()
        return PaymentMethodView.of(method)


async def detach(deps: Deps, user_id: str, payment_method_id: str) -> PaymentMethodView:
    """Soft delete. The default cannot go while a subscription will charge it."""
    async with deps.uow() as uow:
        await uow.subscriptions.lock_user(user_id)
        method = await _owned(uow, user_id, payment_method_id)
        if method.is_default and await uow.subscriptions.current(user_id) is not None:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "make another method the default before removing this one",
                "paymentMethodId",
            )
        method.is_active = False
        method.is_default = False
        await uow.commit()
        return PaymentMethodView.of(method)
