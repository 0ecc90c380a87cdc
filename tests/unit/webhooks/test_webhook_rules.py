"""The webhooks' pure rules: which addresses are public, which URLs production takes,
the retry schedule and when an endpoint is disabled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import DomainError
from services.webhooks.rules import (
    blocked_address,
    check_url,
    next_attempt,
    parse_schedule,
    should_disable,
)

NOW = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1%eth0",
        "fd00::1",
        "::ffff:10.0.0.1",
    ],
)
def test_inside_addresses_are_blocked(address: str) -> None:
    assert blocked_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_are_not(address: str) -> None:
    assert not blocked_address(address)


def test_production_wants_https() -> None:
    assert check_url(" http://127.0.0.1:8000/hook ") == "http://127.0.0.1:8000/hook"
    assert check_url("https://example.com/h", https_only=True) == "https://example.com/h"
    with pytest.raises(DomainError, match="https"):
        check_url("http://example.com/h", https_only=True)
    for bad in ("ftp://example.com/", "https://", "https://u:p@example.com/", "x" * 2001):
        with pytest.raises(DomainError):
            check_url(bad)


def test_the_schedule_runs_out_and_failing_for_days_disables() -> None:
    schedule = parse_schedule("0, 5,300")
    assert schedule == (0.0, 5.0, 300.0)
    assert next_attempt(schedule, 1, NOW) == NOW + timedelta(seconds=5)
    assert next_attempt(schedule, 3, NOW) is None
    with pytest.raises(ValueError):
        parse_schedule("1,-2")
    assert not should_disable(None, NOW, 5)
    assert not should_disable(NOW - timedelta(days=4, hours=23), NOW, 5)
    assert should_disable(NOW - timedelta(days=5), NOW, 5)
