"""Invariants of the state machine over random event sequences and random plan
policies (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import InvalidTransition
from services.pricing.periods import Interval
from services.pricing.policy import (
    DEFAULT_POLICY,
    AfterGrace,
    ChangeTiming,
    LifecyclePolicy,
    Proration,
    check_policy,
)
from services.subscriptions import due, lifecycle, pausing
from services.subscriptions.lifecycle import PlanTerms, Status, SubscriptionState
from services.subscriptions.state import PlanFeatures, entitlements_for

START = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
PREMIUM = PlanTerms("premium", 999, "USD", Interval.MONTH, 14, 20)
AD_FREE = PlanTerms("ad-free", 499, "USD", Interval.MONTH, 14, 10)
PLANS = {"premium": PREMIUM, "ad-free": AD_FREE}
FEATURES = {
    "premium": PlanFeatures("premium", ("ad_free", "premium_content"), ("ad_free",)),
    "ad-free": PlanFeatures("ad-free", ("ad_free",), ("ad_free",)),
}
FREE = PlanFeatures("free", ("basic",), ())

EVENTS = st.sampled_from(
    [
        "pay_ok",
        "pay_fail",
        "pay_cancel",
        "expire",
        "cancel_end",
        "cancel_now",
        "resume",
        "upgrade",
        "downgrade",
        "suspend",
        "reinstate",
        "pause",
        "unpause",
    ]
)
STEPS = st.lists(st.tuples(EVENTS, st.integers(0, 40 * 86400)), max_size=30)


@st.composite
def policies(draw: st.DrawFn) -> LifecyclePolicy:
    grace = draw(st.integers(0, 30))
    retries = draw(st.lists(st.integers(1, max(grace - 1, 1)), max_size=5, unique=True))
    return check_policy(
        LifecyclePolicy(
            proration=draw(st.sampled_from(Proration)),
            upgrade_timing=draw(st.sampled_from(ChangeTiming)),
            downgrade_timing=draw(st.sampled_from(ChangeTiming)),
            retry_days=tuple(sorted(day for day in retries if day < grace)),
            grace_days=grace,
            after_grace=draw(st.sampled_from(AfterGrace)),
        )
    )


def change(
    state: SubscriptionState, target: PlanTerms, now: datetime, policy: LifecyclePolicy
) -> SubscriptionState:
    """A plan change as the use case drives the rules: timed by the policy of the plan
    being left; FULL_PERIOD starts a new period."""
    upgrade = target.tier_rank > PLANS[state.plan_code].tier_rank
    if policy.timing(upgrade=upgrade) is ChangeTiming.PERIOD_END:
        return lifecycle.schedule_plan_change(state, target, now, upgrade=upgrade).after
    period = None
    if policy.proration is Proration.FULL_PERIOD and state.status is Status.ACTIVE:
        period = (now, now + timedelta(days=30))
    return lifecycle.change_plan(state, target, now, upgrade=upgrade, period=period).after


def apply(
    state: SubscriptionState,
    event: str,
    now: datetime,
    policy: LifecyclePolicy = DEFAULT_POLICY,
) -> SubscriptionState:
    plan = PLANS[state.pending_plan_code or state.plan_code]
    if event == "pay_ok":
        return lifecycle.payment_succeeded(state, plan, plan.price_cents, now).after
    if event == "pay_fail":
        return lifecycle.payment_failed(state, now, policy).after
    if event == "pay_cancel":
        return lifecycle.payment_canceled(state, now, policy).after
    if event == "expire":
        return due.expire(state, now, policy).after
    if event == "cancel_end":
        return lifecycle.cancel(state, now, at_period_end=True).after
    if event == "cancel_now":
        return lifecycle.cancel(state, now, at_period_end=False).after
    if event == "resume":
        return lifecycle.resume(state, now).after
    if event == "upgrade":
        return change(state, PREMIUM, now, policy)
    if event == "downgrade":
        return change(state, AD_FREE, now, policy)
    if event == "suspend":
        return lifecycle.suspend(state, now).after
    if event == "pause":
        return pausing.pause(state, now + timedelta(days=10), now).after
    if event == "unpause":
        return pausing.resume(state, now).after
    return lifecycle.reinstate(state, now).after


def check_invariants(
    state: SubscriptionState, now: datetime, policy: LifecyclePolicy = DEFAULT_POLICY
) -> None:
    start, end = state.current_period_start, state.current_period_end
    if start is not None and end is not None:
        assert start <= end
    if state.status is Status.ACTIVE:
        assert state.activated_at is not None and end is not None
    if state.status is Status.PAST_DUE:
        grace = state.grace_expires_at
        # Grace is the policy's length at most, and every retry falls inside it.
        assert grace is not None and grace - policy.grace <= now
        assert state.next_retry_at is None or state.next_retry_at < grace
        # Once the schedule is spent (a customer's own tries count too), none is due.
        if state.retry_count >= len(policy.retry_days):
            assert state.next_retry_at is None
    assert (state.status is Status.SUSPENDED) == (state.status_before_suspension is not None)
    # Only a paused subscription waits to resume; nothing is due while paused but that.
    if state.status is Status.PAUSED:
        # Paused by the customer until a date, or by grace ending until they resume.
        assert state.resumes_at is not None or policy.after_grace is AfterGrace.PAUSE
        assert due.due_work(state, now) in (None, due.DueWork.RESUME)
    elif state.status_before_suspension is not Status.PAUSED:
        assert state.resumes_at is None
    assert state.status_before_suspension is not Status.SUSPENDED
    if state.trial_end is not None:
        assert state.trial_start is not None and state.trial_start <= state.trial_end
    granted = entitlements_for(state, FEATURES[state.plan_code], FREE, now)
    plan_features = set(FEATURES[state.plan_code].entitlements)
    if state.status is Status.SUSPENDED:
        assert granted.features == ()
    elif state.status in (Status.EXPIRED, Status.FAILED, Status.PENDING, Status.PAUSED):
        assert granted.features == FREE.entitlements
    elif state.status is Status.PAST_DUE:
        assert set(granted.features) <= set(FEATURES[state.plan_code].grace_entitlements) | {
            "basic"
        }
    else:
        assert set(granted.features) <= plan_features | set(FREE.entitlements)


@settings(max_examples=400, deadline=None)
@given(trial=st.booleans(), steps=STEPS, policy=st.just(DEFAULT_POLICY) | policies())
def test_random_event_sequences_keep_every_invariant(trial, steps, policy):
    now = START
    state = lifecycle.start(PREMIUM, now, trial_eligible=trial).after
    check_invariants(state, now, policy)
    for event, seconds in steps:
        now += timedelta(seconds=seconds)
        was_current = state.is_current
        try:
            after = apply(state, event, now, policy)
        except InvalidTransition:
            continue  # refused: the state is untouched
        # Nothing brings an ended subscription back: a retry is a new checkout.
        assert was_current, f"{event} changed an ended subscription"
        if after.status is not state.status:
            assert after.status_updated_at == now
        if state.status is Status.PAST_DUE and event == "expire":
            # Grace ended unpaid: the policy says what it becomes; only a pause stays.
            ends = {
                AfterGrace.EXPIRE: Status.EXPIRED,
                AfterGrace.CANCEL: Status.CANCELED,
                AfterGrace.PAUSE: Status.PAUSED,
            }
            assert after.status is ends[policy.after_grace]
            assert after.is_current is (policy.after_grace is AfterGrace.PAUSE)
        state = after
        check_invariants(state, now, policy)


@settings(max_examples=200, deadline=None)
@given(steps=STEPS)
def test_ended_states_refuse_everything(steps):
    now = START
    state = lifecycle.start(PREMIUM, now, trial_eligible=False).after
    state = lifecycle.payment_failed(state, now, DEFAULT_POLICY).after
    assert state.status is Status.FAILED
    for event, seconds in steps:
        now += timedelta(seconds=seconds)
        try:
            apply(state, event, now)
        except InvalidTransition:
            continue
        raise AssertionError(f"{event} was accepted on a FAILED subscription")
