"""What the clock makes due, as plain functions of (state, now): the work the scheduler
must do for a subscription, and the transitions time alone causes (a cancelled period
or grace running out, a checkout nobody finished). Pauses running out resume through
pausing.py; charges go through lifecycle.py's payment results."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from services.common.errors import InvalidTransition
from services.pricing.policy import AfterGrace, LifecyclePolicy
from services.subscriptions.lifecycle import move
from services.subscriptions.state import (
    PaymentConfirmation,
    Status,
    SubscriptionState,
    Transition,
)

TRIAL_REMINDER_BEFORE = timedelta(days=3)
# A checkout waiting for customer action is abandoned after this long (as at Stripe).
CHECKOUT_TIMEOUT = timedelta(hours=23)


# --- time -----------------------------------------------------------------------


def expire(state: SubscriptionState, now: datetime, policy: LifecyclePolicy) -> Transition:
    """The paid period of a cancelled subscription ended, or grace ran out: then the
    policy's `after_grace` says whether it expires, is cancelled or pauses."""
    end, grace = state.current_period_end, state.grace_expires_at
    if state.status is Status.CANCELED and state.is_current and end is not None and now >= end:
        return move(state, now, "period_ended", status=Status.EXPIRED)
    if state.status is not Status.PAST_DUE or grace is None or now < grace:
        raise InvalidTransition(state.status.value, "expire")
    unpaid = {"grace_expires_at": None, "next_retry_at": None, "pending_plan_code": None}
    if policy.after_grace is AfterGrace.CANCEL:
        # Cancelled now, its unpaid period already over: not current, like an expiry.
        return move(
            state, now, "grace_cancelled", status=Status.CANCELED, cancelled_at=now, **unpaid
        )
    if policy.after_grace is AfterGrace.PAUSE:
        # Paused with no end: resuming starts a new period, charged then (pausing.py).
        return move(state, now, "grace_paused", status=Status.PAUSED, resumes_at=None, **unpaid)
    return move(state, now, "grace_period_ended", status=Status.EXPIRED)


def abandon_checkout(state: SubscriptionState, now: datetime) -> Transition:
    """A checkout nobody finished fails; a retry is a new checkout."""
    if state.status is not Status.PENDING or now < state.status_updated_at + CHECKOUT_TIMEOUT:
        raise InvalidTransition(state.status.value, "abandon the checkout of")
    return move(
        state,
        now,
        "checkout_expired",
        status=Status.FAILED,
        payment_confirmation=PaymentConfirmation.FAILED,
    )


# --- what is due ----------------------------------------------------------------


class DueWork(StrEnum):
    ABANDON = "ABANDON"  # a checkout left waiting too long
    CHARGE = "CHARGE"  # trial conversion or renewal
    RETRY = "RETRY"  # a payment retry during grace
    EXPIRE = "EXPIRE"  # cancelled period over, or grace over
    RESUME = "RESUME"  # a pause ran out


def due_work(state: SubscriptionState, now: datetime) -> DueWork | None:
    """What the scheduler must do for this subscription at `now`, if anything."""
    end = state.current_period_end
    if state.status is Status.PENDING and now >= state.status_updated_at + CHECKOUT_TIMEOUT:
        return DueWork.ABANDON
    if state.status in (Status.TRIALING, Status.ACTIVE) and end is not None and now >= end:
        return DueWork.CHARGE
    if state.status is Status.CANCELED and end is not None and now >= end and state.is_current:
        return DueWork.EXPIRE
    if state.status is Status.PAUSED and state.resumes_at and now >= state.resumes_at:
        return DueWork.RESUME
    if state.status is Status.PAST_DUE:
        grace = state.grace_expires_at
        if grace is not None and now >= grace:
            return DueWork.EXPIRE
        if state.next_retry_at is not None and now >= state.next_retry_at:
            return DueWork.RETRY
    return None


def trial_reminder_due(state: SubscriptionState, now: datetime) -> bool:
    """Whether a trial ends within the reminder window (the caller sends it once)."""
    end = state.trial_end
    return (
        state.status is Status.TRIALING
        and end is not None
        and end - TRIAL_REMINDER_BEFORE <= now < end
    )
