"""Quota packs (the seed's `quota` pricing): a plan of kind QUOTA is bought once,
charged through the gateway like any payment (an invoice, a payment record, the same
webhooks), and once paid its units (the plan's quotas: included units per meter) join
the user's balance. Packs do not renew; they expire `validDays` after purchase when the
plan says so. Counting uses them after the plan's included units, before overage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from models import Plan, QuotaPack, QuotaPackUnits
from services.billing.idempotency import check_key, previous_response, request_hash
from services.billing.payments import ChargeSpec, PaymentView, charge, method_for_charge
from services.billing.rules import Line, LineKind, PaymentPurpose, PaymentStatus
from services.common.errors import DomainError, ErrorCode
from services.gateway.base import ChargeOutcome, idempotency_key
from services.messaging import events
from services.messaging.events import DomainEvent
from services.platform.auth import check_user_id
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.pricing.catalog import require_plan
from services.pricing.rules import PlanKind
from services.subscriptions.views import errors_json, stored_errors, stored_payment
from services.usage.rules import PackStatus

OPERATION = "purchase_quota_pack"


@dataclass(frozen=True)
class PurchaseQuotaPack:
    user_id: str
    plan_code: str
    payment_method_id: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PackUnitsView:
    meter_key: str
    units: int
    used_units: int


@dataclass(frozen=True)
class QuotaPackView:
    id: uuid.UUID
    plan_code: str
    status: PackStatus
    units: tuple[PackUnitsView, ...]
    expires_at: datetime | None
    purchased_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class PackPurchase:
    pack: QuotaPackView | None
    payment: PaymentView | None
    errors: tuple[DomainError, ...] = ()


def _view(pack: QuotaPack, meter_keys: dict[uuid.UUID, str]) -> QuotaPackView:
    return QuotaPackView(
        id=pack.id,
        plan_code=pack.plan.code,
        status=pack.status,
        units=tuple(
            PackUnitsView(meter_keys.get(u.meter_id, "?"), u.units, u.used_units)
            for u in sorted(pack.units, key=lambda u: meter_keys.get(u.meter_id, ""))
        ),
        expires_at=pack.expires_at,
        purchased_at=pack.purchased_at,
        created_at=pack.created_at,
    )


async def _meter_keys(uow: UnitOfWork) -> dict[uuid.UUID, str]:
    return {m.id: m.key for m in await uow.usage.meters(include_archived=True)}


async def settle_pack(
    uow: UnitOfWork, pack: QuotaPack, status: PaymentStatus, now: datetime
) -> None:
    """A pack's payment settled: paid adds its units, failed or canceled adds nothing.
    Called once per payment outcome, whoever reports it (the charge, a webhook)."""
    if pack.status is not PackStatus.PENDING or status is PaymentStatus.STARTED:
        return
    if status is not PaymentStatus.SUCCESS:
        pack.status = PackStatus.FAILED
        return
    pack.status, pack.purchased_at = PackStatus.ACTIVE, now
    for row in pack.units:
        row.active = True
    uow.record(_purchased(pack, await _meter_keys(uow), now))


def _purchased(pack: QuotaPack, meter_keys: dict[uuid.UUID, str], now: datetime) -> DomainEvent:
    data: dict[str, Any] = {
        "packId": str(pack.id),
        "userId": pack.user_id,
        "planCode": pack.plan.code,
        "priceCents": pack.plan.price_cents,
        "currency": pack.currency,
        "units": [{"meterKey": meter_keys[u.meter_id], "units": u.units} for u in pack.units],
        "expiresAt": events.iso(pack.expires_at),
        "purchasedAt": events.iso(now),
    }
    return DomainEvent(events.QUOTA_PACK_PURCHASED, pack.user_id, data, now)


def _new_pack(
    user_id: str, plan: Plan, quotas: list[tuple[uuid.UUID, int]], now: datetime
) -> QuotaPack:
    pack_id = uuid.uuid4()
    expires = now + timedelta(days=plan.valid_days) if plan.valid_days else None
    return QuotaPack(
        id=pack_id,
        user_id=user_id,
        plan_id=plan.id,
        plan=plan,
        currency=plan.currency,
        status=PackStatus.PENDING,
        expires_at=expires,
        purchased_at=None,
        created_at=now,
        units=[
            QuotaPackUnits(
                pack_id=pack_id,
                meter_id=meter_id,
                user_id=user_id,
                units=units,
                used_units=0,
                active=False,
                expires_at=expires,
            )
            for meter_id, units in quotas
        ],
    )


async def _pack_plan(uow: UnitOfWork, code: str) -> tuple[Plan, list[tuple[uuid.UUID, int]]]:
    plan = await require_plan(uow, code, purchasable=True, kind=PlanKind.QUOTA)
    quotas = [
        (quota.meter_id, quota.included_units)
        for quota, _ in await uow.usage.quotas_of_plans([plan.id])
        if quota.included_units
    ]
    if not quotas:
        raise DomainError(
            ErrorCode.PLAN_NOT_PURCHASABLE,
            f"plan {code!r} holds no units yet (setPlanQuota gives it some)",
            "planCode",
        )
    return plan, quotas


async def purchase_quota_pack(deps: Deps, cmd: PurchaseQuotaPack) -> PackPurchase:
    key = check_key(cmd.idempotency_key)
    fingerprint = request_hash(OPERATION, {"plan": cmd.plan_code, "pm": cmd.payment_method_id})
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.subscriptions.lock_user(cmd.user_id)
        stored = await previous_response(uow, cmd.user_id, key, fingerprint)
        if stored is not None:
            return await _replayed(uow, stored)
        plan, quotas = await _pack_plan(uow, cmd.plan_code)
        method = await method_for_charge(uow, deps.gateway, cmd.user_id, cmd.payment_method_id)
        pack = _new_pack(cmd.user_id, plan, quotas, now)
        uow.packs.add(pack)
        await uow.session.flush()
        spec = ChargeSpec(
            order=pack,
            method=method,
            purpose=PaymentPurpose.QUOTA_PACK,
            lines=(Line(LineKind.QUOTA_PACK, plan.name, plan.price_cents, plan.code, None, None),),
            idempotency_key=idempotency_key(cmd.user_id, key or str(pack.id), OPERATION),
            off_session=False,
        )
        payment, result = await charge(uow, deps.gateway, spec, now)
        await settle_pack(uow, pack, payment.status, now)
        errors: tuple[DomainError, ...] = ()
        if result.outcome is ChargeOutcome.DECLINED:
            message = result.failure_message or "the card was declined"
            errors = (DomainError(ErrorCode.PAYMENT_DECLINED, message, "paymentMethodId"),)
        outcome = PackPurchase(_view(pack, await _meter_keys(uow)), payment, errors)
        if key is not None:
            uow.messaging.remember(cmd.user_id, key, OPERATION, fingerprint, _stored(outcome), now)
        await uow.commit()
        return outcome


def _stored(outcome: PackPurchase) -> dict[str, Any]:
    return {
        "pack_id": str(outcome.pack.id) if outcome.pack else None,
        "payment": outcome.payment.to_json() if outcome.payment else None,
        "errors": errors_json(outcome.errors),
    }


async def _replayed(uow: UnitOfWork, stored: dict[str, Any]) -> PackPurchase:
    """The first answer, with the pack as it is now (a webhook may have settled it)."""
    pack = await uow.packs.by_id(uuid.UUID(stored["pack_id"])) if stored["pack_id"] else None
    return PackPurchase(
        _view(pack, await _meter_keys(uow)) if pack else None,
        stored_payment(stored),
        stored_errors(stored),
    )


async def packs_of(deps: Deps, user_id: str) -> list[QuotaPackView]:
    """The user's packs, newest first."""
    check_user_id(user_id)
    async with deps.uow() as uow:
        keys = await _meter_keys(uow)
        return [_view(pack, keys) for pack in await uow.packs.of_user(user_id)]
