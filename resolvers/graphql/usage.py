"""Usage and quota resolvers: meters and quotas for admins, counting for services, the
caller's own usage. consumeQuota answers the decision itself (a hot path: no payload);
bad input is a coded GraphQL error."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

import strawberry

from resolvers.graphql import mapping
from schema import money_types, types
from schema.inputs import (
    ArchiveMeterInput,
    ConsumeQuotaInput,
    CreateMeterInput,
    PurchaseQuotaPackInput,
    RecordUsageInput,
    SetPlanQuotaInput,
)
from schema.permissions import Info
from services.clocks import control as clocks
from services.common.errors import DomainError
from services.usage import metering, meters, packs


def _meter(view: meters.MeterView) -> types.Meter:
    return types.Meter(
        key=view.key,
        name=view.name,
        unit=view.unit,
        aggregation=view.aggregation,
        feature=view.feature,
        archived=view.archived,
    )


def _quota(view: meters.PlanQuotaView) -> types.PlanQuota:
    return types.PlanQuota(
        meter_key=view.meter_key,
        included_units=view.included_units,
        overage_unit_price_cents=view.overage_unit_price_cents,
        hard_limit=view.hard_limit,
    )


def _decision(view: metering.QuotaDecision) -> types.QuotaDecision:
    return types.QuotaDecision(
        allowed=view.allowed,
        remaining=view.remaining,
        resets_at=view.resets_at,
        reason=view.reason,
    )


async def _meter_payload(call: Awaitable[meters.MeterView]) -> types.MeterPayload:
    try:
        return types.MeterPayload(meter=_meter(await call), errors=[])
    except DomainError as error:
        return types.MeterPayload(meter=None, errors=[mapping.user_error(error)])


async def create_meter(info: Info, input: CreateMeterInput) -> types.MeterPayload:
    command = meters.CreateMeter(
        input.key, input.name, input.unit, input.aggregation, input.feature
    )
    return await _meter_payload(meters.create_meter(info.context.deps, command))


async def archive_meter(info: Info, input: ArchiveMeterInput) -> types.MeterPayload:
    return await _meter_payload(meters.archive_meter(info.context.deps, input.key))


async def set_plan_quota(info: Info, input: SetPlanQuotaInput) -> types.PlanQuotaPayload:
    command = meters.SetPlanQuota(
        input.plan_code,
        input.meter_key,
        input.included_units,
        input.overage_unit_price_cents,
        input.hard_limit,
    )
    try:
        view = await meters.set_plan_quota(info.context.deps, command)
    except DomainError as error:
        return types.PlanQuotaPayload(quota=None, errors=[mapping.user_error(error)])
    return types.PlanQuotaPayload(quota=_quota(view), errors=[])


async def consume_quota(info: Info, input: ConsumeQuotaInput) -> types.QuotaDecision:
    command = metering.ConsumeQuota(input.user_id, input.meter_key, input.quantity, input.event_id)
    deps = await clocks.deps_for(info.context.deps, input.user_id)  # a clocked customer
    return _decision(await metering.consume_quota(deps, command))


async def record_usage(info: Info, input: RecordUsageInput) -> types.RecordUsagePayload:
    command = metering.RecordUsage(
        input.user_id,
        input.meter_key,
        input.quantity,
        input.event_id,
        input.occurred_at,
        input.value,
    )
    try:
        deps = await clocks.deps_for(info.context.deps, input.user_id)
        view = await metering.record_usage(deps, command)
    except DomainError as error:
        return types.RecordUsagePayload(decision=None, errors=[mapping.user_error(error)])
    return types.RecordUsagePayload(decision=_decision(view), errors=[])


async def meters_list(info: Info, include_archived: bool = False) -> list[types.Meter]:
    views = await meters.list_meters(info.context.deps, include_archived=include_archived)
    return [_meter(view) for view in views]


def _usage(view: metering.MeterUsage) -> types.MeterUsage:
    return types.MeterUsage(
        meter_key=view.meter_key,
        used=view.used,
        included_units=view.included_units,
        pack_units_remaining=view.pack_units_remaining,
        remaining=view.remaining,
        overage_units=view.overage_units,
        overage_amount_cents=view.overage_amount_cents,
        period_start=view.period_start,
        period_end=view.period_end,
    )


async def usage_of_user(info: strawberry.Info, user_id: str) -> list[types.MeterUsage]:
    return [_usage(view) for view in await metering.usage_of(info.context.deps, user_id)]


async def my_usage(info: Info) -> list[types.MeterUsage]:
    return await usage_of_user(info, info.context.user().user_id)


async def usage(info: Info, user_id: str) -> list[types.MeterUsage]:
    return await usage_of_user(info, user_id)


async def plan_quotas(
    info: strawberry.Info, plan_id: str | None, plan_code: str
) -> list[types.PlanQuota]:
    if plan_id is None:
        return []
    found = await meters.quotas_of_plans(info.context.deps, {uuid.UUID(plan_id): plan_code})
    return [_quota(view) for view in found[plan_code]]


def _pack(view: packs.QuotaPackView) -> money_types.QuotaPack:
    return money_types.QuotaPack(
        id=strawberry.ID(str(view.id)),
        plan_code=view.plan_code,
        status=view.status,
        units=[
            money_types.QuotaPackUnits(
                meter_key=u.meter_key, units=u.units, used_units=u.used_units
            )
            for u in view.units
        ],
        expires_at=view.expires_at,
        purchased_at=view.purchased_at,
        created_at=view.created_at,
    )


async def purchase_quota_pack(
    info: Info, input: PurchaseQuotaPackInput
) -> money_types.QuotaPackPayload:
    command = packs.PurchaseQuotaPack(
        info.context.user().user_id, input.plan_code, input.payment_method_id, input.idempotency_key
    )
    try:
        result = await packs.purchase_quota_pack(info.context.deps, command)
    except DomainError as error:
        return money_types.QuotaPackPayload(
            pack=None, payment=None, errors=[mapping.user_error(error)]
        )
    return money_types.QuotaPackPayload(
        pack=_pack(result.pack) if result.pack else None,
        payment=mapping.payment(result.payment),
        errors=[mapping.user_error(e) for e in result.errors],
    )


async def my_quota_packs(info: Info) -> list[money_types.QuotaPack]:
    views = await packs.packs_of(info.context.deps, info.context.user().user_id)
    return [_pack(view) for view in views]


async def quota_packs(info: Info, user_id: str) -> list[money_types.QuotaPack]:
    return [_pack(view) for view in await packs.packs_of(info.context.deps, user_id)]
