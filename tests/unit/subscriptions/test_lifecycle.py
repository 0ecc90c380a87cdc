"""The state machine, transition by transition, with no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.billing.rules import PaymentStatus
from services.common.errors import DomainError, ErrorCode, InvalidTransition
from services.pricing.periods import Interval
from services.pricing.policy import DEFAULT_POLICY
from services.subscriptions import due, lifecycle
from services.subscriptions.lifecycle import PlanTerms, Status

GRACE_PERIOD = DEFAULT_POLICY.grace  # the default policy's grace

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
PREMIUM = PlanTerms("premium", 999, "USD", Interval.MONTH, 14, 20)
AD_FREE = PlanTerms("ad-free", 499, "USD", Interval.MONTH, 14, 10)
FREE = PlanTerms("free", 0, "USD", Interval.MONTH, 0, 0)


def trialing() -> lifecycle.SubscriptionState:
    return lifecycle.start(PREMIUM, NOW, trial_eligible=True).after


def active() -> lifecycle.SubscriptionState:
    pending = lifecycle.start(PREMIUM, NOW, trial_eligible=False).after
    return lifecycle.payment_succeeded(pending, PREMIUM, 999, NOW).after


def past_due() -> lifecycle.SubscriptionState:
    state = active()
    assert state.current_period_end is not None
    return lifecycle.payment_failed(state, state.current_period_end, DEFAULT_POLICY).after


def test_first_paid_subscription_starts_a_14_day_trial():
    state = trialing()
    assert state.status is Status.TRIALING
    assert state.trial_end == NOW + timedelta(days=14)
    assert state.current_period_end == state.trial_end


def test_a_second_subscription_waits_for_payment():
    transition = lifecycle.start(PREMIUM, NOW, trial_eligible=False)
    assert transition.after.status is Status.PENDING
    assert transition.reason == "checkout_started"


def test_the_free_plan_cannot_be_bought():
    with pytest.raises(DomainError) as caught:
        lifecycle.start(FREE, NOW, trial_eligible=True)
    assert caught.value.code is ErrorCode.PLAN_NOT_PURCHASABLE


def test_first_payment_success_starts_a_monthly_period():
    state = active()
    assert state.status is Status.ACTIVE
    assert state.current_period_start == NOW
    assert state.current_period_end == datetime(2026, 4, 10, 9, 30, tzinfo=UTC)
    assert state.activated_at == NOW
    assert state.price_paid_cents == 999


@pytest.mark.parametrize(
    ("result", "status"),
    [
        (PaymentStatus.STARTED, Status.PENDING),
        (PaymentStatus.SUCCESS, Status.ACTIVE),
        (PaymentStatus.FAILED, Status.FAILED),
        (PaymentStatus.CANCELED, Status.CANCELED),
    ],
)
def test_seed_payment_result_mapping_for_a_checkout(result, status):
    pending = lifecycle.start(PREMIUM, NOW, trial_eligible=False).after
    transition = lifecycle.payment_result(pending, PREMIUM, 999, result, NOW)
    after = transition.after if transition else pending
    assert after.status is status
    if status in (Status.FAILED, Status.CANCELED):
        assert not after.is_current  # a retry is a new checkout


def test_trial_converts_at_day_14_continuing_from_trial_end():
    state = trialing()
    day14 = NOW + timedelta(days=14)
    converted = lifecycle.payment_succeeded(state, PREMIUM, 999, day14 + timedelta(minutes=5))
    assert converted.reason == "trial_converted"
    assert converted.after.current_period_start == day14
    assert converted.after.current_period_end == datetime(2026, 4, 24, 9, 30, tzinfo=UTC)


def test_failed_trial_conversion_starts_seven_days_of_grace():
    failed_at = NOW + timedelta(days=14)
    past_due = lifecycle.payment_failed(trialing(), failed_at, DEFAULT_POLICY).after
    assert past_due.status is Status.PAST_DUE
    assert past_due.grace_expires_at == failed_at + GRACE_PERIOD


def test_renewal_success_moves_to_the_next_period():
    state = active()
    renewed = lifecycle.payment_succeeded(state, PREMIUM, 999, state.current_period_end)
    assert renewed.reason == "renewed"
    assert renewed.after.current_period_start == state.current_period_end
    assert renewed.after.current_period_end == datetime(2026, 5, 10, 9, 30, tzinfo=UTC)


def test_a_stray_failure_mid_period_changes_nothing():
    with pytest.raises(InvalidTransition):
        lifecycle.payment_failed(active(), NOW + timedelta(days=3), DEFAULT_POLICY)


def test_a_second_renewal_for_the_same_period_is_refused():
    state = active()
    assert state.current_period_end is not None
    renewed = lifecycle.payment_succeeded(state, PREMIUM, 999, state.current_period_end).after
    with pytest.raises(InvalidTransition):
        lifecycle.payment_succeeded(renewed, PREMIUM, 999, state.current_period_end)


def test_a_failed_retry_during_grace_keeps_the_original_deadline():
    past_due = lifecycle.payment_failed(active(), NOW + timedelta(days=31), DEFAULT_POLICY).after
    retried = lifecycle.payment_failed(past_due, NOW + timedelta(days=34), DEFAULT_POLICY)
    assert retried.after.status is Status.PAST_DUE
    assert retried.after.grace_expires_at == past_due.grace_expires_at
    assert not retried.status_changed


def test_payment_during_grace_recovers_without_shifting_the_cycle():
    state = active()
    past_due = lifecycle.payment_failed(state, state.current_period_end, DEFAULT_POLICY).after
    recovered = lifecycle.payment_succeeded(
        past_due, PREMIUM, 999, state.current_period_end + timedelta(days=3)
    )
    assert recovered.reason == "payment_recovered"
    assert recovered.after.status is Status.ACTIVE
    assert recovered.after.current_period_start == state.current_period_end
    assert recovered.after.grace_expires_at is None


def test_grace_runs_out_on_day_eight():
    failed = past_due()
    failed_at = failed.status_updated_at
    with pytest.raises(InvalidTransition):
        due.expire(failed, failed_at + timedelta(days=6, hours=23), DEFAULT_POLICY)
    expired = due.expire(failed, failed_at + timedelta(days=7), DEFAULT_POLICY)
    assert expired.after.status is Status.EXPIRED
    assert expired.reason == "grace_period_ended"


def test_cancel_at_period_end_keeps_access_then_expires():
    state = active()
    cancelled = lifecycle.cancel(state, NOW + timedelta(days=3), at_period_end=True).after
    assert cancelled.status is Status.CANCELED
    assert cancelled.cancel_at_period_end and cancelled.is_current
    assert due.due_work(cancelled, NOW + timedelta(days=4)) is None
    end = state.current_period_end
    assert due.due_work(cancelled, end) is due.DueWork.EXPIRE
    assert due.expire(cancelled, end, DEFAULT_POLICY).after.status is Status.EXPIRED


def test_resume_before_period_end_restores_the_previous_status():
    cancelled = lifecycle.cancel(trialing(), NOW + timedelta(days=1), at_period_end=True).after
    resumed = lifecycle.resume(cancelled, NOW + timedelta(days=2)).after
    assert resumed.status is Status.TRIALING
    assert not resumed.cancel_at_period_end and resumed.cancelled_at is None


def test_resume_after_period_end_is_refused():
    state = active()
    cancelled = lifecycle.cancel(state, NOW, at_period_end=True).after
    with pytest.raises(InvalidTransition):
        lifecycle.resume(cancelled, state.current_period_end)


def test_immediate_cancel_ends_access_now_and_frees_the_slot():
    cancelled = lifecycle.cancel(active(), NOW + timedelta(days=1), at_period_end=False).after
    assert cancelled.current_period_end == NOW + timedelta(days=1)
    assert not cancelled.is_current


def test_past_due_cancel_is_always_immediate():
    failed = past_due()
    cancelled = lifecycle.cancel(failed, failed.status_updated_at, at_period_end=True)
    assert cancelled.reason == "cancelled_immediately"
    assert not cancelled.after.is_current


def test_a_scheduled_cancellation_can_be_made_immediate_but_not_rescheduled():
    scheduled = lifecycle.cancel(active(), NOW, at_period_end=True).after
    with pytest.raises(InvalidTransition):
        lifecycle.cancel(scheduled, NOW, at_period_end=True)
    assert not lifecycle.cancel(scheduled, NOW, at_period_end=False).after.is_current


def test_upgrade_and_downgrade_direction_is_checked():
    with pytest.raises(DomainError) as up:
        lifecycle.check_plan_change(PREMIUM, AD_FREE, upgrade=True)
    assert up.value.code is ErrorCode.NOT_AN_UPGRADE
    with pytest.raises(DomainError) as down:
        lifecycle.check_plan_change(AD_FREE, PREMIUM, upgrade=False)
    assert down.value.code is ErrorCode.NOT_A_DOWNGRADE
    euro = replace(PREMIUM, code="premium-eur", currency="EUR", tier_rank=30)
    with pytest.raises(DomainError) as currency:
        lifecycle.check_plan_change(PREMIUM, euro, upgrade=True)
    assert currency.value.code is ErrorCode.CURRENCY_MISMATCH


def test_downgrade_is_scheduled_and_applied_by_the_next_paid_period():
    state = active()
    scheduled = lifecycle.schedule_plan_change(state, AD_FREE, NOW, upgrade=False).after
    assert scheduled.plan_code == "premium" and scheduled.pending_plan_code == "ad-free"
    renewed = lifecycle.payment_succeeded(scheduled, AD_FREE, 499, state.current_period_end)
    assert renewed.after.plan_code == "ad-free" and renewed.after.pending_plan_code is None


def test_suspend_and_reinstate_round_trip():
    cancelled = lifecycle.cancel(active(), NOW, at_period_end=True).after
    suspended = lifecycle.suspend(cancelled, NOW).after
    assert suspended.status is Status.SUSPENDED
    with pytest.raises(InvalidTransition):
        lifecycle.suspend(suspended, NOW)
    reinstated = lifecycle.reinstate(suspended, NOW).after
    assert reinstated.status is Status.CANCELED and reinstated.status_before_suspension is None


@pytest.mark.parametrize(
    "action",
    [
        lambda s: lifecycle.resume(s, NOW),
        lambda s: lifecycle.suspend(s, NOW),
        lambda s: lifecycle.reinstate(s, NOW),
        lambda s: lifecycle.cancel(s, NOW, at_period_end=True),
        lambda s: lifecycle.payment_succeeded(s, PREMIUM, 999, NOW),
        lambda s: lifecycle.schedule_plan_change(s, AD_FREE, NOW, upgrade=False),
    ],
)
def test_ended_subscriptions_refuse_every_action(action):
    failed = past_due()
    expired = due.expire(failed, failed.status_updated_at + GRACE_PERIOD, DEFAULT_POLICY)
    with pytest.raises(InvalidTransition) as caught:
        action(expired.after)
    assert caught.value.code is ErrorCode.INVALID_TRANSITION
