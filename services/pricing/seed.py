"""Default catalog: a free plan, an ad-free plan and a premium plan. Idempotent."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Plan, PricingRecord
from services.pricing.periods import Interval
from services.pricing.rules import PlanKind

DEFAULT_PLANS = [
    {
        "code": "free",
        "name": "Free",
        "description": "Basic access with ads",
        "price_cents": 0,
        "trial_days": 0,
        "entitlements": ["basic_content"],
        "grace_entitlements": ["basic_content"],
        "tier_rank": 0,
    },
    {
        "code": "ad-free",
        "name": "Ad-free",
        "description": "Everything in Free, without ads",
        "price_cents": 499,
        "trial_days": 14,
        "entitlements": ["basic_content", "ad_free"],
        "grace_entitlements": ["basic_content", "ad_free"],
        "tier_rank": 10,
    },
    {
        "code": "premium",
        "name": "Premium",
        "description": "Ad-free plus premium content and the AI coach",
        "price_cents": 999,
        "trial_days": 14,
        "entitlements": ["basic_content", "ad_free", "premium_content", "ai_coach"],
        "grace_entitlements": ["basic_content", "ad_free"],
        "tier_rank": 20,
    },
]


async def seed_plans(session: AsyncSession, now: datetime) -> int:
    """Insert missing default plans (never overwriting an admin's changes)."""
    created = 0
    for spec in DEFAULT_PLANS:
        plan_id = uuid.uuid4()
        inserted = await session.scalar(
            insert(Plan)
            .values(
                id=plan_id,
                kind=PlanKind.SUBSCRIPTION,
                currency="USD",
                interval=Interval.MONTH,
                archived=False,
                created_at=now,
                updated_at=now,
                **spec,
            )
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(Plan.id)
        )
        if inserted is not None:
            created += 1
            session.add(
                PricingRecord(
                    plan_id=plan_id,
                    price_cents=spec["price_cents"],
                    previous_price_cents=None,
                    currency="USD",
                    description="initial price",
                    changed_by="system",
                    changed_at=now,
                )
            )
    await session.commit()
    return created
