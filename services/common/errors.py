"""Typed business errors. Every expected failure a client can act on is one of these."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    PLAN_NOT_FOUND = "PLAN_NOT_FOUND"
    PLAN_ARCHIVED = "PLAN_ARCHIVED"
    PLAN_NOT_PURCHASABLE = "PLAN_NOT_PURCHASABLE"
    PLAN_CODE_TAKEN = "PLAN_CODE_TAKEN"
    UNSUPPORTED_CURRENCY = "UNSUPPORTED_CURRENCY"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    ALREADY_SUBSCRIBED = "ALREADY_SUBSCRIBED"
    NO_SUBSCRIPTION = "NO_SUBSCRIPTION"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    NOT_AN_UPGRADE = "NOT_AN_UPGRADE"
    NOT_A_DOWNGRADE = "NOT_A_DOWNGRADE"
    PAYMENT_METHOD_REQUIRED = "PAYMENT_METHOD_REQUIRED"
    PAYMENT_METHOD_NOT_FOUND = "PAYMENT_METHOD_NOT_FOUND"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    PAYMENT_REQUIRES_ACTION = "PAYMENT_REQUIRES_ACTION"
    PAYMENT_GATEWAY_UNAVAILABLE = "PAYMENT_GATEWAY_UNAVAILABLE"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    TEST_CLOCK_DISABLED = "TEST_CLOCK_DISABLED"
    METER_NOT_FOUND = "METER_NOT_FOUND"
    METER_KEY_TAKEN = "METER_KEY_TAKEN"
    QUOTA_EXHAUSTED = "QUOTA_EXHAUSTED"
    FEATURE_NOT_ENTITLED = "FEATURE_NOT_ENTITLED"
    USAGE_PERIOD_CLOSED = "USAGE_PERIOD_CLOSED"
    COUPON_NOT_FOUND = "COUPON_NOT_FOUND"
    COUPON_CODE_TAKEN = "COUPON_CODE_TAKEN"
    COUPON_NOT_APPLICABLE = "COUPON_NOT_APPLICABLE"
    PROMOTION_CODE_INVALID = "PROMOTION_CODE_INVALID"
    PROMOTION_CODE_EXPIRED = "PROMOTION_CODE_EXPIRED"
    PROMOTION_CODE_EXHAUSTED = "PROMOTION_CODE_EXHAUSTED"
    PAYMENT_NOT_REFUNDABLE = "PAYMENT_NOT_REFUNDABLE"
    REFUND_EXCEEDS_PAYMENT = "REFUND_EXCEEDS_PAYMENT"
    INSUFFICIENT_CREDIT = "INSUFFICIENT_CREDIT"
    NOT_IN_PRODUCTION = "NOT_IN_PRODUCTION"


MAX_MESSAGE = 200


class DomainError(Exception):
    """A rule said no. Carries a stable code, the offending input field and a message."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        if len(message) > MAX_MESSAGE:  # messages echo input; a client may send 10 KB of it
            message = message[: MAX_MESSAGE - 1] + "…"
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"DomainError({self.code.value}, {self.message!r}, field={self.field!r})"


class InvalidTransition(DomainError):
    def __init__(self, status: str, action: str) -> None:
        super().__init__(
            ErrorCode.INVALID_TRANSITION,
            f"cannot {action} a subscription that is {status}",
        )
        self.status = status
        self.action = action
