"""GraphQL types of the plan catalog: plans, their lifecycle policy, meters and quotas."""

from __future__ import annotations

import strawberry

from schema.context import Context
from schema.enums import (
    AfterGrace,
    BillingInterval,
    ChangeTiming,
    MeterAggregation,
    PlanKind,
    Proration,
)


@strawberry.type(
    description="A plan's lifecycle policy; the defaults are the service's"
    " behaviour before policies (docs/lifecycle.md)."
)
class PlanPolicy:
    proration: Proration = strawberry.field(
        description="How a mid-period change away from this plan is charged."
    )
    upgrade_timing: ChangeTiming
    downgrade_timing: ChangeTiming
    retry_days: list[int] = strawberry.field(
        description="Payment retries during grace, in days after the failure that started it."
    )
    grace_days: int
    after_grace: AfterGrace = strawberry.field(
        description="What a subscription on this plan becomes when grace ends unpaid."
    )


@strawberry.type
class Plan:
    code: str
    name: str
    description: str
    kind: PlanKind
    price_cents: int
    currency: str
    interval: BillingInterval
    interval_count: int = strawberry.field(description="A period is this many intervals.")
    trial_days: int
    entitlements: list[str]
    grace_entitlements: list[str]
    tier_rank: int
    archived: bool
    policy: PlanPolicy = strawberry.field(
        description="How a change away from the plan is timed and charged, and how a failed"
        " renewal is retried and ended (setPlanPolicy)."
    )
    valid_days: int | None = strawberry.field(
        default=None, description="A QUOTA plan's packs expire this many days after purchase."
    )
    plan_id: strawberry.Private[str | None] = None

    @strawberry.field(description="What the plan includes of each meter.")  # type: ignore[untyped-decorator]
    async def quotas(self, info: strawberry.Info[Context, None]) -> list[PlanQuota]:
        return await info.context.type_fields().plan_quotas(info, self.plan_id, self.code)


@strawberry.type
class Meter:
    key: str
    name: str
    unit: str
    aggregation: MeterAggregation
    feature: str | None = strawberry.field(description="Unlocks it; null: a plan's quota does.")
    archived: bool


@strawberry.type
class PlanQuota:
    meter_key: str
    included_units: int | None
    overage_unit_price_cents: int
    hard_limit: bool
