"""A plan's lifecycle policy: how a change away from it is timed and charged, and how a
failed renewal is retried and ended. The lifecycle rules take it as an argument; the
defaults are the service's behaviour before policies existed, so a plan nobody set a
policy on behaves as it always did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.common.errors import DomainError, ErrorCode

MAX_GRACE_DAYS = 60
MAX_RETRIES = 10


class Proration(StrEnum):
    """How a mid-period change away from the plan is charged."""

    PRORATE = "PRORATE"  # the unused time credited, the rest of the period charged
    NONE = "NONE"  # nothing now: the new plan's price from the next invoice
    FULL_PERIOD = "FULL_PERIOD"  # the new plan's full price now, a new period, no credit


class ChangeTiming(StrEnum):
    IMMEDIATE = "IMMEDIATE"
    PERIOD_END = "PERIOD_END"


class AfterGrace(StrEnum):
    """What a subscription becomes when grace ends unpaid."""

    EXPIRE = "EXPIRE"  # EXPIRED: the user is back on the free plan
    CANCEL = "CANCEL"  # CANCELED, as if the user had cancelled then
    PAUSE = "PAUSE"  # PAUSED with no end: resuming starts a new period, charged then


@dataclass(frozen=True)
class LifecyclePolicy:
    proration: Proration = Proration.PRORATE
    upgrade_timing: ChangeTiming = ChangeTiming.IMMEDIATE
    downgrade_timing: ChangeTiming = ChangeTiming.PERIOD_END
    retry_days: tuple[int, ...] = (1, 3, 5)  # after the failure that started grace
    grace_days: int = 7
    after_grace: AfterGrace = AfterGrace.EXPIRE

    @property
    def grace(self) -> timedelta:
        return timedelta(days=self.grace_days)

    def timing(self, *, upgrade: bool) -> ChangeTiming:
        return self.upgrade_timing if upgrade else self.downgrade_timing

    def first_retry(self, failed_at: datetime) -> datetime | None:
        return failed_at + timedelta(days=self.retry_days[0]) if self.retry_days else None

    def retry_after(self, scheduled: datetime | None, retries: int) -> datetime | None:
        """The retry after `retries` failed ones, counted from when the last one was
        due (so a retry that ran late does not shift the schedule), none when the
        schedule is spent."""
        if scheduled is None or not 0 < retries < len(self.retry_days):
            return None
        return scheduled + timedelta(days=self.retry_days[retries] - self.retry_days[retries - 1])


DEFAULT_POLICY = LifecyclePolicy()


def check_policy(policy: LifecyclePolicy) -> LifecyclePolicy:
    """Retries fall inside grace (a retry after it ends would never run), in order."""
    if not 0 <= policy.grace_days <= MAX_GRACE_DAYS:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"graceDays must be from 0 to {MAX_GRACE_DAYS}",
            "graceDays",
        )
    days = policy.retry_days
    if len(days) > MAX_RETRIES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"at most {MAX_RETRIES} retries", "retryDays")
    if any(day < 1 or day >= policy.grace_days for day in days) or list(days) != sorted(set(days)):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"retryDays must rise, each from 1 to graceDays - 1 ({policy.grace_days - 1})",
            "retryDays",
        )
    return policy
