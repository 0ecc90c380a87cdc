"""The catalog as the API layer sees it: plain frozen data, no ORM objects leak out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from models import Plan, PricingRecord
from services.pricing.periods import Interval
from services.pricing.policy import LifecyclePolicy
from services.pricing.rules import ExistingSubscribers, PlanKind
from services.store.plans import policy_of


@dataclass(frozen=True)
class PlanView:
    id: uuid.UUID
    code: str
    name: str
    description: str
    kind: PlanKind
    price_cents: int
    currency: str
    interval: Interval
    interval_count: int
    trial_days: int
    entitlements: tuple[str, ...]
    grace_entitlements: tuple[str, ...]
    tier_rank: int
    valid_days: int | None
    archived: bool
    policy: LifecyclePolicy

    @classmethod
    def of(cls, plan: Plan) -> PlanView:
        return cls(
            id=plan.id,
            code=plan.code,
            name=plan.name,
            description=plan.description,
            kind=plan.kind,
            price_cents=plan.price_cents,
            currency=plan.currency,
            interval=plan.interval,
            interval_count=plan.interval_count,
            trial_days=plan.trial_days,
            entitlements=tuple(plan.entitlements),
            grace_entitlements=tuple(plan.grace_entitlements),
            tier_rank=plan.tier_rank,
            valid_days=plan.valid_days,
            archived=plan.archived,
            policy=policy_of(plan),
        )


@dataclass(frozen=True)
class PricingRecordView:
    plan_code: str
    price_cents: int
    previous_price_cents: int | None
    currency: str
    description: str
    changed_by: str
    changed_at: datetime
    note: str | None
    existing_subscribers: ExistingSubscribers
    move_at: datetime | None

    @classmethod
    def of(cls, plan_code: str, row: PricingRecord) -> PricingRecordView:
        return cls(
            plan_code,
            row.price_cents,
            row.previous_price_cents,
            row.currency,
            row.description,
            row.changed_by,
            row.changed_at,
            row.note,
            ExistingSubscribers(row.existing_subscribers),
            row.move_at,
        )
