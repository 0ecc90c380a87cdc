"""The subscription state machine as plain functions of (state, event, now).

Nothing here touches a database, a network or the clock: callers pass `now`.
Each function returns a `Transition` (the state before, the state after and a
machine-readable reason) or raises `InvalidTransition`. The service layer
persists the result, its history row and its events in one transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.billing.rules import PaymentStatus
from services.common.errors import DomainError, ErrorCode, InvalidTransition
from services.pricing.periods import next_period_end
from services.pricing.policy import LifecyclePolicy

# The state types are the rules' vocabulary, so callers may say lifecycle.Status.
from services.subscriptions.state import PaymentConfirmation as PaymentConfirmation
from services.subscriptions.state import PlanTerms as PlanTerms
from services.subscriptions.state import Status as Status
from services.subscriptions.state import SubscriptionState as SubscriptionState
from services.subscriptions.state import Transition as Transition


def move(state: SubscriptionState, now: datetime, reason: str, **changes: object) -> Transition:
    if changes.get("status", state.status) is not state.status:
        changes["status_updated_at"] = now
    # As dataclasses.replace (an unknown field is a TypeError), at half its cost: the
    # bulk paths move thousands of states a batch.
    after = SubscriptionState(**{**vars(state), **changes})
    return Transition(before=state, after=after, reason=reason)


def _refuse(state: SubscriptionState, action: str) -> InvalidTransition:
    return InvalidTransition(state.status.value, action)


# --- starting -------------------------------------------------------------------


def start(plan: PlanTerms, now: datetime, *, trial_eligible: bool) -> Transition:
    """A new checkout: a trial when the user never had one, else waiting for payment."""
    if plan.is_free:
        raise DomainError(
            ErrorCode.PLAN_NOT_PURCHASABLE,
            "the free plan needs no subscription; every user without one is on it",
            field="planCode",
        )
    if trial_eligible and plan.trial_days > 0:
        trial_end = now + timedelta(days=plan.trial_days)
        state = SubscriptionState(
            status=Status.TRIALING,
            plan_code=plan.code,
            status_updated_at=now,
            payment_confirmation=PaymentConfirmation.NOT_REQUIRED,
            billing_cycle_anchor=trial_end,
            current_period_start=now,
            current_period_end=trial_end,
            trial_start=now,
            trial_end=trial_end,
        )
        return Transition(before=None, after=state, reason="trial_started")
    state = SubscriptionState(status=Status.PENDING, plan_code=plan.code, status_updated_at=now)
    return Transition(before=None, after=state, reason="checkout_started")


# --- payment results ------------------------------------------------------------


def payment_succeeded(
    state: SubscriptionState, plan: PlanTerms, amount_cents: int, now: datetime
) -> Transition:
    """A charge for `plan` went through: the next paid period starts.

    The first payment starts the period now; conversions, renewals and recoveries
    continue from the end of the period we held, so a late payment does not shift
    the billing cycle. The plan is the one charged for (a scheduled downgrade
    takes effect here).
    """
    paid = {
        "plan_code": plan.code,
        "pending_plan_code": None,
        "payment_confirmation": PaymentConfirmation.PAID,
        "price_paid_cents": amount_cents,
        "grace_expires_at": None,
        "next_retry_at": None,
        "retry_count": 0,
    }
    if state.status is Status.PENDING:
        return move(
            state,
            now,
            "payment_succeeded",
            status=Status.ACTIVE,
            activated_at=now,
            billing_cycle_anchor=now,
            current_period_start=now,
            current_period_end=next_period_end(now, now, plan.interval, plan.interval_count),
            **paid,
        )
    if state.status in (Status.TRIALING, Status.ACTIVE, Status.PAST_DUE):
        assert state.current_period_end is not None and state.billing_cycle_anchor is not None
        start_at = state.current_period_end
        anchor = state.billing_cycle_anchor
        trial_end = state.trial_end
        if state.status is Status.ACTIVE and now < start_at:
            # One renewal per period: a second success for the same period is refused.
            raise _refuse(state, "renew before its period ends")
        if state.status is Status.TRIALING and now < start_at:
            # Paid before the trial ran out: the trial ends now and billing starts now.
            start_at = anchor = trial_end = now
        reason = {
            Status.TRIALING: "trial_converted",
            Status.ACTIVE: "renewed",
            Status.PAST_DUE: "payment_recovered",
        }[state.status]
        return move(
            state,
            now,
            reason,
            status=Status.ACTIVE,
            activated_at=state.activated_at or now,
            billing_cycle_anchor=anchor,
            trial_end=trial_end,
            current_period_start=start_at,
            current_period_end=next_period_end(
                anchor, start_at, plan.interval, plan.interval_count
            ),
            **paid,
        )
    raise _refuse(state, "apply a successful payment to")


def payment_failed(state: SubscriptionState, now: datetime, policy: LifecyclePolicy) -> Transition:
    """A charge was declined: the first payment fails the checkout; later ones start the
    policy's grace, with its retries."""
    if state.status is Status.PENDING:
        return move(
            state,
            now,
            "payment_failed",
            status=Status.FAILED,
            payment_confirmation=PaymentConfirmation.FAILED,
        )
    if state.status in (Status.TRIALING, Status.ACTIVE):
        end = state.current_period_end
        if end is None or now < end:
            # Only the charge for the next period can fail a paid-up subscription; a
            # stray failure mid-period (a late event, a declined upgrade) changes nothing.
            raise _refuse(state, "fail the renewal of a paid-up period of")
        return move(
            state,
            now,
            "payment_failed",
            status=Status.PAST_DUE,
            payment_confirmation=PaymentConfirmation.FAILED,
            grace_expires_at=now + policy.grace,
            retry_count=0,
            next_retry_at=policy.first_retry(now),
        )
    if state.status is Status.PAST_DUE:
        # A retry during grace failed: grace keeps its original deadline; the next retry
        # follows the schedule, counted from the failure that started grace.
        retries = state.retry_count + 1
        upcoming = policy.retry_after(state.next_retry_at, retries)
        return move(state, now, "payment_retry_failed", retry_count=retries, next_retry_at=upcoming)
    raise _refuse(state, "apply a failed payment to")


def payment_canceled(
    state: SubscriptionState, now: datetime, policy: LifecyclePolicy
) -> Transition:
    """The processor cancelled the payment. At checkout that cancels the order (seed
    mapping canceled → cancelled); later it counts as a failed charge."""
    if state.status is Status.PENDING:
        return move(
            state,
            now,
            "payment_canceled",
            status=Status.CANCELED,
            cancelled_at=now,
            payment_confirmation=PaymentConfirmation.CANCELED,
        )
    return payment_failed(state, now, policy)


def payment_result(
    state: SubscriptionState,
    plan: PlanTerms,
    amount_cents: int,
    result: PaymentStatus,
    now: datetime,
) -> Transition | None:
    """The seed's mapping of a payment result onto the subscription: started leaves it
    waiting, success activates, failed fails (or starts the charged plan's grace),
    canceled cancels."""
    if result is PaymentStatus.SUCCESS:
        return payment_succeeded(state, plan, amount_cents, now)
    if result is PaymentStatus.FAILED:
        return payment_failed(state, now, plan.policy)
    if result is PaymentStatus.CANCELED:
        return payment_canceled(state, now, plan.policy)
    return None


# --- customer actions -----------------------------------------------------------


def cancel(state: SubscriptionState, now: datetime, *, at_period_end: bool) -> Transition:
    """Cancel now or at the end of the paid period.

    PAST_DUE and PAUSED (or a period already over) have no paid time left, so they end
    now; a PENDING checkout is abandoned. A scheduled cancellation can be made immediate.
    """
    if state.status is Status.PENDING:
        return move(
            state,
            now,
            "checkout_abandoned",
            status=Status.CANCELED,
            cancelled_at=now,
            payment_confirmation=PaymentConfirmation.CANCELED,
        )
    scheduled = state.status is Status.CANCELED and state.is_current
    cancellable = (Status.TRIALING, Status.ACTIVE, Status.PAST_DUE, Status.PAUSED)
    if state.status not in cancellable and not scheduled:
        raise _refuse(state, "cancel")
    if scheduled and at_period_end:
        raise _refuse(state, "schedule the cancellation of")
    end = state.current_period_end
    paid_time_left = end is not None and now < end
    if at_period_end and paid_time_left and state.status in (Status.TRIALING, Status.ACTIVE):
        return move(
            state,
            now,
            "cancelled_at_period_end",
            status=Status.CANCELED,
            cancel_at_period_end=True,
            cancelled_at=now,
            pending_plan_code=None,
        )
    trial_end = state.trial_end
    if trial_end is not None and trial_end > now:
        trial_end = now
    return move(
        state,
        now,
        "cancelled_immediately",
        status=Status.CANCELED,
        cancel_at_period_end=False,
        cancelled_at=now,
        current_period_end=now,
        trial_end=trial_end,
        grace_expires_at=None,
        next_retry_at=None,
        pending_plan_code=None,
        resumes_at=None,
    )


def resume(state: SubscriptionState, now: datetime) -> Transition:
    """Undo a cancellation at period end, before the period ends."""
    end = state.current_period_end
    if not (state.status is Status.CANCELED and state.cancel_at_period_end and end and now < end):
        raise _refuse(state, "resume")
    in_trial = state.trial_end is not None and now < state.trial_end
    return move(
        state,
        now,
        "resumed",
        status=Status.TRIALING if in_trial else Status.ACTIVE,
        cancel_at_period_end=False,
        cancelled_at=None,
    )


def check_plan_change(current: PlanTerms, target: PlanTerms, *, upgrade: bool) -> None:
    """An upgrade goes up in tier, a downgrade down, and both keep the currency."""
    if target.code == current.code:
        raise DomainError(ErrorCode.INVALID_INPUT, "already on this plan", field="planCode")
    if target.is_free:
        raise DomainError(
            ErrorCode.PLAN_NOT_PURCHASABLE,
            "to move to the free plan, cancel the subscription",
            field="planCode",
        )
    if target.currency != current.currency:
        raise DomainError(
            ErrorCode.CURRENCY_MISMATCH,
            f"plan {target.code} is billed in {target.currency}, not {current.currency}",
            field="planCode",
        )
    if upgrade and target.tier_rank <= current.tier_rank:
        raise DomainError(
            ErrorCode.NOT_AN_UPGRADE, f"{target.code} is not above {current.code}", "planCode"
        )
    if not upgrade and target.tier_rank >= current.tier_rank:
        raise DomainError(
            ErrorCode.NOT_A_DOWNGRADE, f"{target.code} is not below {current.code}", "planCode"
        )


def check_changeable(state: SubscriptionState) -> None:
    """Only a trialing or active subscription changes plan (not one cancelled at period
    end, in grace, paused or suspended): previews and mutations ask the same question."""
    if state.status not in (Status.TRIALING, Status.ACTIVE):
        raise _refuse(state, "change the plan of")


def change_plan(
    state: SubscriptionState,
    target: PlanTerms,
    now: datetime,
    *,
    upgrade: bool = True,
    period: tuple[datetime, datetime] | None = None,
) -> Transition:
    """Switch plan now: an upgrade once its charge is paid, an immediate downgrade at
    once. `period` is the new period a FULL_PERIOD change paid for; it starts now."""
    check_changeable(state)
    starts: dict[str, object] = {}
    if period is not None:
        starts = {
            "billing_cycle_anchor": period[0],
            "current_period_start": period[0],
            "current_period_end": period[1],
        }
    reason = "upgraded" if upgrade else "downgraded"
    return move(state, now, reason, plan_code=target.code, pending_plan_code=None, **starts)


def schedule_plan_change(
    state: SubscriptionState, target: PlanTerms, now: datetime, *, upgrade: bool
) -> Transition:
    """A change timed PERIOD_END waits for the end of the period already paid for; the
    renewal charges the new plan."""
    check_changeable(state)
    reason = "upgrade_scheduled" if upgrade else "downgrade_scheduled"
    return move(state, now, reason, pending_plan_code=target.code)


def change_fulfillment(state: SubscriptionState, now: datetime) -> Transition:
    """How paid periods are delivered can change while the subscription runs."""
    if not state.is_current or state.status in (Status.SUSPENDED, Status.PENDING):
        raise _refuse(state, "change the fulfillment of")
    return Transition(before=state, after=state, reason="fulfillment_updated")


# --- admin actions --------------------------------------------------------------


def suspend(state: SubscriptionState, now: datetime) -> Transition:
    if state.status is Status.SUSPENDED or not state.is_current:
        raise _refuse(state, "suspend")
    return move(
        state, now, "suspended", status=Status.SUSPENDED, status_before_suspension=state.status
    )


def reinstate(state: SubscriptionState, now: datetime) -> Transition:
    if state.status is not Status.SUSPENDED or state.status_before_suspension is None:
        raise _refuse(state, "reinstate")
    return move(
        state,
        now,
        "reinstated",
        status=state.status_before_suspension,
        status_before_suspension=None,
    )
