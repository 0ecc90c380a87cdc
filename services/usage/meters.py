"""Admin use cases for meters and the units plans include of them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from models import Meter, PlanQuota
from services.common.errors import DomainError, ErrorCode
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.pricing.catalog import require_plan
from services.pricing.rules import check_features
from services.usage.rules import Aggregation, QuotaTerms, check_meter_key, check_terms

MAX_NAME = 200


@dataclass(frozen=True)
class MeterView:
    key: str
    name: str
    unit: str
    aggregation: Aggregation
    feature: str | None  # none: any plan with a quota on it unlocks it
    archived: bool

    @classmethod
    def of(cls, meter: Meter) -> MeterView:
        return cls(
            meter.key, meter.name, meter.unit, meter.aggregation, meter.feature, meter.archived
        )


@dataclass(frozen=True)
class PlanQuotaView:
    plan_code: str
    meter_key: str
    included_units: int | None
    overage_unit_price_cents: int
    hard_limit: bool

    @classmethod
    def of(cls, plan_code: str, quota: PlanQuota, meter: Meter) -> PlanQuotaView:
        return cls(
            plan_code,
            meter.key,
            quota.included_units,
            quota.overage_unit_price_cents,
            quota.hard_limit,
        )


@dataclass(frozen=True)
class CreateMeter:
    key: str
    name: str
    unit: str
    aggregation: Aggregation
    feature: str | None = None  # the entitlement that unlocks it; none: any plan's quota does


@dataclass(frozen=True)
class SetPlanQuota:
    plan_code: str
    meter_key: str
    included_units: int | None
    overage_unit_price_cents: int = 0
    hard_limit: bool = True


def _text(value: str, field: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_NAME:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"{field} must be 1-{MAX_NAME} characters", field
        )
    return value


async def require_meter(uow: UnitOfWork, key: str, *, active: bool = True) -> Meter:
    meter = await uow.usage.meter(key)
    if meter is None or (active and meter.archived):
        raise DomainError(ErrorCode.METER_NOT_FOUND, f"no meter {key!r}", "meterKey")
    return meter


async def create_meter(deps: Deps, cmd: CreateMeter) -> MeterView:
    check_meter_key(cmd.key)
    feature = cmd.feature
    if feature is not None:
        check_features([feature], "feature")
    meter = Meter(
        id=uuid.uuid4(),
        key=cmd.key,
        name=_text(cmd.name, "name"),
        unit=_text(cmd.unit, "unit"),
        aggregation=cmd.aggregation,
        feature=feature,
        archived=False,
        created_at=deps.clock.now(),
    )
    async with deps.uow() as uow:
        if await uow.usage.meter(cmd.key) is not None:
            raise DomainError(ErrorCode.METER_KEY_TAKEN, f"meter {cmd.key!r} exists", "key")
        uow.usage.add(meter)
        try:
            await uow.commit()
        except IntegrityError as exc:  # a concurrent create won the key
            raise DomainError(
                ErrorCode.METER_KEY_TAKEN, f"meter {cmd.key!r} exists", "key"
            ) from exc
    return MeterView.of(meter)


async def archive_meter(deps: Deps, key: str) -> MeterView:
    """Archived meters count nothing more; what was counted stays."""
    async with deps.uow() as uow:
        meter = await require_meter(uow, key, active=False)
        meter.archived = True
        await uow.commit()
    await deps.forget_everyone()  # cached usage terms name the meter
    return MeterView.of(meter)


async def list_meters(deps: Deps, *, include_archived: bool = False) -> list[MeterView]:
    async with deps.uow() as uow:
        return [MeterView.of(m) for m in await uow.usage.meters(include_archived=include_archived)]


async def set_plan_quota(deps: Deps, cmd: SetPlanQuota) -> PlanQuotaView:
    terms = QuotaTerms(cmd.included_units, cmd.overage_unit_price_cents, cmd.hard_limit)
    check_terms(terms)
    async with deps.uow() as uow:
        plan = await require_plan(uow, cmd.plan_code, purchasable=False)
        meter = await require_meter(uow, cmd.meter_key)
        await uow.usage.set_quota(
            {
                "plan_id": plan.id,
                "meter_id": meter.id,
                "included_units": terms.included_units,
                "overage_unit_price_cents": terms.overage_unit_price_cents,
                "hard_limit": terms.hard_limit,
                "updated_at": deps.clock.now(),
            }
        )
        await uow.commit()
        quota = await uow.usage.quota(plan.id, meter.id)
        assert quota is not None
        view = PlanQuotaView.of(plan.code, quota, meter)
    await deps.forget_everyone()  # every subscriber's cached usage terms
    return view


async def quotas_of_plans(
    deps: Deps, plan_ids: dict[uuid.UUID, str]
) -> dict[str, list[PlanQuotaView]]:
    """Each plan's quotas, by plan code (plans without quotas map to an empty list)."""
    found: dict[str, list[PlanQuotaView]] = {code: [] for code in plan_ids.values()}
    if not plan_ids:
        return found
    async with deps.uow() as uow:
        for quota, meter in await uow.usage.quotas_of_plans(list(plan_ids)):
            code = plan_ids[quota.plan_id]
            found[code].append(PlanQuotaView.of(code, quota, meter))
    return found
