"""Test clocks per customer through GraphQL, on a server started with TEST_CLOCK=1: the
names issue 29 gives, a customer served at their clock's time, and typed refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from services.platform.auth import Role
from tests.conftest import START, LiveServer, scalar

ADMIN = {"user": "clock-admin", "roles": (Role.ADMIN,)}  # its own mutation rate limit
CLOCK = "id name now status customers applied"
CREATE = f"""mutation($name: String!, $at: DateTime!) {{
  createTestClock(input: {{name: $name, frozenAt: $at}}) {{ testClock {{ {CLOCK} }}
  errors {{ code field }} }} }}"""
ATTACH = f"""mutation($u: String!, $c: ID!) {{
  attachTestClock(input: {{userId: $u, testClockId: $c}}) {{ testClock {{ {CLOCK} }}
  errors {{ code field }} }} }}"""
ADVANCE = f"""mutation($c: ID, $to: DateTime, $s: Int) {{
  advanceTestClock(input: {{testClockId: $c, to: $to, seconds: $s}}) {{
  testClock {{ {CLOCK} }} errors {{ code field }} }} }}"""
DELETE = f"""mutation($c: ID!) {{ deleteTestClock(input: {{testClockId: $c}}) {{
  testClock {{ {CLOCK} }} errors {{ code }} }} }}"""
SUBSCRIBE = """mutation { subscribe(input: {planCode: "premium", paymentMethodId: "pm_card_visa"})
  { subscription { status trialStart currentPeriodEnd } errors { code } } }"""
MINE = "{ mySubscription { status currentPeriodStart } }"


@pytest.fixture
def clocks_on(live_server: LiveServer) -> Iterator[None]:
    deps = live_server.app.state.deps
    before = deps.settings
    deps.settings = before.model_copy(update={"test_clock": True})
    yield
    deps.settings = before


async def test_a_customer_lives_on_their_own_clock(api, deps, clocks_on):
    frozen = START + timedelta(days=200)
    made = (await api.gql(CREATE, {"name": "qa", "at": frozen.isoformat()}, **ADMIN))["data"]
    clock = made["createTestClock"]["testClock"]
    assert (clock["name"], clock["status"], clock["customers"]) == ("qa", "READY", [])
    attached = await api.gql(ATTACH, {"u": "tia", "c": clock["id"]}, **ADMIN)
    assert attached["data"]["attachTestClock"]["testClock"]["customers"] == ["tia"]

    started = (await api.gql(SUBSCRIBE, user="tia"))["data"]["subscribe"]["subscription"]
    assert started["status"] == "TRIALING"
    assert started["trialStart"][:10] == frozen.date().isoformat()  # the clock's day

    to = frozen + timedelta(days=15)
    moved = await api.gql(ADVANCE, {"c": clock["id"], "to": to.isoformat()}, **ADMIN)
    after = moved["data"]["advanceTestClock"]
    assert after["errors"] == []
    assert (after["testClock"]["status"], after["testClock"]["applied"]) == ("READY", 2)
    mine = (await api.gql(MINE, user="tia"))["data"]["mySubscription"]
    assert mine["status"] == "ACTIVE"
    assert mine["currentPeriodStart"][:10] == (frozen + timedelta(days=14)).date().isoformat()
    listed = await api.gql("{ testClocks { id now customers } }", **ADMIN)
    assert listed["data"]["testClocks"] == [
        {"id": clock["id"], "now": after["testClock"]["now"], "customers": ["tia"]}
    ]

    suspend = """mutation { suspendSubscription(input: {userId: "tia", reason: "qa"}) {
      subscription { status } errors { code } } }"""
    assert (await api.gql(suspend, **ADMIN))["data"]["suspendSubscription"]["errors"] == []
    suspended_at = await scalar(
        deps, "SELECT max(occurred_at) FROM subscription_history WHERE reason = 'suspended'"
    )
    assert suspended_at == to  # an admin's action on a clocked customer: the clock's time

    gone = await api.gql(DELETE, {"c": clock["id"]}, **ADMIN)
    assert gone["data"]["deleteTestClock"]["testClock"]["customers"] == ["tia"]
    assert await scalar(deps, "SELECT count(*) FROM subscriptions") == 0


async def test_bad_clock_requests_get_typed_errors_and_change_nothing(api, clocks_on):
    made = await api.gql(CREATE, {"name": " ", "at": START.isoformat()}, **ADMIN)
    assert made["data"]["createTestClock"]["errors"] == [{"code": "INVALID_INPUT", "field": "name"}]
    both = await api.gql(ADVANCE, {"c": "not-a-clock", "to": START.isoformat(), "s": 60}, **ADMIN)
    assert both["data"]["advanceTestClock"]["errors"][0]["code"] == "INVALID_INPUT"
    unknown = await api.gql(
        ATTACH, {"u": "zed", "c": "00000000-0000-0000-0000-000000000000"}, **ADMIN
    )
    assert unknown["data"]["attachTestClock"]["errors"] == [
        {"code": "NOT_FOUND", "field": "testClockId"}
    ]
    refused = await api.gql(CREATE, {"name": "mine", "at": START.isoformat()}, user="zed")
    assert refused["data"] is None and refused["errors"]
    assert (await api.gql("{ testClocks { id } }", **ADMIN))["data"]["testClocks"] == []
