"""setPlanPolicy: an admin sets how a plan's subscriptions change plan and how a failed
renewal is retried and ended (the rules: pricing/policy.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from services.platform.deps import Deps
from services.pricing.catalog import plan_updated, require_plan
from services.pricing.policy import AfterGrace, ChangeTiming, Proration, check_policy
from services.pricing.rules import check_features, check_grace_subset
from services.pricing.views import PlanView
from services.store.plans import policy_of, write_policy


@dataclass(frozen=True)
class SetPlanPolicy:
    """Every field left out keeps the plan's current value."""

    plan_code: str
    proration: Proration | None = None
    upgrade_timing: ChangeTiming | None = None
    downgrade_timing: ChangeTiming | None = None
    retry_days: tuple[int, ...] | None = None
    grace_days: int | None = None
    after_grace: AfterGrace | None = None
    grace_entitlements: tuple[str, ...] | None = None


async def set_plan_policy(deps: Deps, cmd: SetPlanPolicy) -> PlanView:
    """The new policy governs every change and failed renewal from now on, for current
    subscribers too: a grace already running keeps its deadline and retry dates."""
    given = {
        field.name: getattr(cmd, field.name)
        for field in dataclasses.fields(cmd)
        if field.name not in ("plan_code", "grace_entitlements")
        and getattr(cmd, field.name) is not None
    }
    async with deps.uow() as uow:
        plan = await require_plan(uow, cmd.plan_code, purchasable=False, lock=True)
        policy = check_policy(dataclasses.replace(policy_of(plan), **given))
        if cmd.grace_entitlements is not None:
            grace = check_features(list(cmd.grace_entitlements), "graceEntitlements")
            check_grace_subset(tuple(plan.entitlements), grace)
            plan.grace_entitlements = list(grace)
        write_policy(plan, policy)
        plan.updated_at = deps.clock.now()
        uow.record(plan_updated(plan, "policy", plan.updated_at))
        await uow.commit()
        return PlanView.of(plan)
