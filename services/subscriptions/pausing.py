"""Pausing and resuming a subscription, as plain functions of (state, now).

While PAUSED nothing is charged, the period does not advance, and the user has the free
tier. Resuming (by the user, or by the scheduler at `resumes_at`) restarts billing from
the resume date: a new period starts then and is charged as a renewal is."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.common.errors import DomainError, ErrorCode, InvalidTransition
from services.subscriptions.lifecycle import Status, SubscriptionState, Transition, move

MAX_PAUSE = timedelta(days=365)


def pause(state: SubscriptionState, resumes_at: datetime, now: datetime) -> Transition:
    """Only an ACTIVE subscription pauses (not in a trial, not cancelled, not in grace)."""
    if state.status is not Status.ACTIVE:
        raise InvalidTransition(state.status.value, "pause")
    if not now < resumes_at <= now + MAX_PAUSE:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"resumesAt must be in the future and within {MAX_PAUSE.days} days",
            "resumesAt",
        )
    return move(state, now, "paused", status=Status.PAUSED, resumes_at=resumes_at)


def resume(state: SubscriptionState, now: datetime) -> Transition:
    """Billing restarts now: the new period is due at once (the scheduler charges it)."""
    if state.status is not Status.PAUSED:
        raise InvalidTransition(state.status.value, "resume")
    return move(
        state,
        now,
        "unpaused",
        status=Status.ACTIVE,
        resumes_at=None,
        billing_cycle_anchor=now,
        current_period_start=now,
        current_period_end=now,
    )
