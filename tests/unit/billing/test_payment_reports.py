"""What a processor's report does to a payment: reports apply in the order they
happened, a success is final, and a report of the same status only records it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.billing.rules import PaymentStatus, StaleResult, result_changes_status

T0 = datetime(2027, 3, 1, tzinfo=UTC)


def test_a_newer_report_of_another_status_changes_the_payment():
    assert result_changes_status(PaymentStatus.STARTED, None, PaymentStatus.SUCCESS, T0)
    assert result_changes_status(
        PaymentStatus.FAILED, T0, PaymentStatus.SUCCESS, T0 + timedelta(seconds=1)
    )


def test_processing_or_the_same_status_is_only_recorded_as_seen():
    assert not result_changes_status(PaymentStatus.STARTED, None, PaymentStatus.STARTED, T0)
    assert not result_changes_status(PaymentStatus.FAILED, None, PaymentStatus.FAILED, T0)


@pytest.mark.parametrize(
    ("current", "seen", "at"),
    [
        (PaymentStatus.SUCCESS, None, T0),  # a success never changes again
        (PaymentStatus.STARTED, T0, T0),  # not newer than what was applied
        (PaymentStatus.FAILED, T0, T0 - timedelta(seconds=1)),
    ],
)
def test_stale_reports_change_nothing(current, seen, at):
    with pytest.raises(StaleResult):
        result_changes_status(current, seen, PaymentStatus.FAILED, at)
