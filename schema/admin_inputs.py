"""Inputs of what admins and support do: act for a customer (each with the reason they
type, kept in the customer's history) and drive test clocks."""

from __future__ import annotations

from datetime import datetime

import strawberry


@strawberry.input(description="The customer an admin acts for.")
class UserIdInput:
    user_id: str


@strawberry.input(description="Cancel for a customer; the reason goes into their history.")
class CancelSubscriptionForInput:
    user_id: str
    reason: str
    at_period_end: bool = True


@strawberry.input
class PauseSubscriptionForInput:
    user_id: str
    resumes_at: datetime
    reason: str


@strawberry.input(description="Resume for a customer (a pause, or a cancellation at period end).")
class ResumeSubscriptionForInput:
    user_id: str
    reason: str


@strawberry.input
class ApplyPromotionCodeForInput:
    user_id: str
    code: str
    reason: str


@strawberry.input(
    description="Change a customer's plan: an upgrade or a downgrade by the plans' tiers,"
    " priced and timed as their own change would be."
)
class ChangePlanForInput:
    user_id: str
    plan_code: str
    reason: str


@strawberry.input(
    description="`testClockId` and `to` move one test clock; `seconds` alone the service's."
)
class AdvanceTestClockInput:
    seconds: int | None = None
    test_clock_id: strawberry.ID | None = None
    to: datetime | None = None


@strawberry.input
class CreateTestClockInput:
    name: str
    frozen_at: datetime


@strawberry.input
class AttachTestClockInput:
    user_id: str
    test_clock_id: strawberry.ID


@strawberry.input
class TestClockIdInput:
    test_clock_id: strawberry.ID
