"""Support acting for a customer over GraphQL: admins only, a reason is required, a bad
request changes nothing, and the history says who did it and why."""

from __future__ import annotations

from services.platform.auth import Role
from tests.conftest import scalar
from tests.e2e.graphql.test_graphql_customer import SUBSCRIBE

SUPPORT = {"user": "support-2", "roles": (Role.ADMIN,)}
PAUSE = """mutation($i: PauseSubscriptionForInput!) { pauseSubscriptionFor(input: $i) {
  subscription { status resumesAt } errors { code field } } }"""
RESUME = """mutation($u: String!, $r: String!) { resumeSubscriptionFor(input: {userId: $u, reason: $r})
  { subscription { status } errors { code field } } }"""
PREVIEW = """query($u: String) { previewPlanChange(planCode: "ad-free", userId: $u) {
  isUpgrade amountDueCents } }"""


async def test_pause_and_resume_for_a_customer(api, deps):
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "ad-free", "paymentMethodId": "pm_card_visa"}}, user="kim"
    )
    await api.gql(
        "mutation { cancelSubscription(input: {atPeriodEnd: false}) { errors { code } } }",
        user="kim",
    )
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="kim"
    )
    until = api.clock.now().replace(year=api.clock.now().year + 1).isoformat()
    blank = await api.gql(
        PAUSE, {"i": {"userId": "kim", "resumesAt": until, "reason": "  "}}, **SUPPORT
    )
    assert blank["data"]["pauseSubscriptionFor"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "reason"}
    ]
    paused = await api.gql(
        PAUSE, {"i": {"userId": "kim", "resumesAt": until, "reason": "travel"}}, **SUPPORT
    )
    assert paused["data"]["pauseSubscriptionFor"]["subscription"]["status"] == "PAUSED"
    resumed = await api.gql(RESUME, {"u": "kim", "r": "back early"}, **SUPPORT)
    assert resumed["data"]["resumeSubscriptionFor"]["subscription"]["status"] == "ACTIVE"
    history = await scalar(
        deps,
        "SELECT json_agg(json_build_array(reason, actor, note) ORDER BY id) FROM subscription_history"
        " WHERE user_id = 'kim' AND actor = 'support-2'",
    )
    assert history == [["paused", "support-2", "travel"], ["unpaused", "support-2", "back early"]]
    preview = await api.gql(PREVIEW, {"u": "kim"}, **SUPPORT)
    assert preview["data"]["previewPlanChange"]["isUpgrade"] is False


async def test_only_admins_act_for_others_and_nothing_changes_otherwise(api, deps):
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="lee"
    )
    before = await scalar(deps, "SELECT count(*) FROM subscription_history")
    cancel = """mutation { cancelSubscriptionFor(input: {userId: "lee", reason: "no"}) {
      subscription { status } errors { code } } }"""
    refused = await api.gql(cancel, user="mallory")
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    peek = await api.gql(PREVIEW, {"u": "lee"}, user="mallory")
    assert peek["data"] is None and peek["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    own = await api.gql(PREVIEW, {"u": None}, user="lee")
    assert own["data"]["previewPlanChange"]["isUpgrade"] is False
    assert await scalar(deps, "SELECT count(*) FROM subscription_history") == before
