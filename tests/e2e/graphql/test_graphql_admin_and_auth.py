"""Admin operations, service lookups, authorization and the limits on untrusted input."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from services.platform.auth import Role
from tests.e2e.graphql.test_graphql_customer import SUBSCRIBE

ADMIN = (Role.ADMIN,)
CREATE_PLAN = """
mutation($input: CreatePlanInput!) {
  createPlan(input: $input) { plan { code priceCents currency trialDays interval } errors { code field message } }
}"""
SET_PRICE = """
mutation($input: SetPlanPriceInput!) {
  setPlanPrice(input: $input) { plan { code priceCents } errors { code field message } }
}"""


async def test_admin_manages_plans_and_prices(api):
    created = await api.gql(
        CREATE_PLAN,
        {
            "input": {
                "code": "family",
                "name": "Family",
                "priceCents": 1499,
                "currency": "usd",
                "interval": "YEAR",
                "tierRank": 30,
                "entitlements": ["ad_free"],
            }
        },
        user="root",
        roles=ADMIN,
    )
    assert created["data"]["createPlan"]["plan"] == {
        "code": "family",
        "priceCents": 1499,
        "currency": "USD",
        "trialDays": 14,
        "interval": "YEAR",
    }
    updated = await api.gql(
        'mutation { updatePlan(input: {code: "family", name: "Family Plus", tierRank: 31}) '
        "{ plan { code } errors { code } } }",
        user="root",
        roles=ADMIN,
    )
    assert updated["data"]["updatePlan"]["errors"] == []
    priced = await api.gql(
        SET_PRICE,
        {"input": {"planCode": "family", "priceCents": 1599, "currency": "USD"}},
        user="root",
        roles=ADMIN,
    )
    assert priced["data"]["setPlanPrice"]["plan"]["priceCents"] == 1599
    history = await api.gql(
        '{ pricingHistory(planCode: "family") { priceCents previousPriceCents changedBy } }',
        user="root",
        roles=ADMIN,
    )
    assert history["data"]["pricingHistory"][0] == {
        "priceCents": 1599,
        "previousPriceCents": 1499,
        "changedBy": "root",
    }
    archived = await api.gql(
        'mutation { archivePlan(input: {code: "family"}) { plan { archived } errors { code } } }',
        user="root",
        roles=ADMIN,
    )
    assert archived["data"]["archivePlan"]["plan"]["archived"] is True


@pytest.mark.parametrize(
    ("price", "currency", "code"),
    [(-5, "USD", "INVALID_INPUT"), (100, "XXX", "UNSUPPORTED_CURRENCY")],
)
async def test_bad_prices_get_typed_errors(api, price, currency, code):
    body = await api.gql(
        SET_PRICE,
        {"input": {"planCode": "premium", "priceCents": price, "currency": currency}},
        user="root",
        roles=ADMIN,
    )
    payload = body["data"]["setPlanPrice"]
    assert payload["plan"] is None and payload["errors"][0]["code"] == code
    plan = await api.gql('{ plan(code: "premium") { priceCents } }')
    assert plan["data"]["plan"]["priceCents"] == 999


async def test_non_integer_price_and_invalid_enum_are_refused_by_graphql(api):
    fraction = await api.gql(
        SET_PRICE,
        {"input": {"planCode": "premium", "priceCents": 9.99, "currency": "USD"}},
        user="root",
        roles=ADMIN,
    )
    assert "data" not in fraction or fraction["data"] is None
    assert "Int cannot represent non-integer value" in fraction["errors"][0]["message"]
    bad_enum = await api.gql(
        "{ adminSubscriptions(filter: {status: SLEEPING}) { nodes { id } } }",
        user="root",
        roles=ADMIN,
    )
    assert "SLEEPING" in bad_enum["errors"][0]["message"]


async def test_suspend_reinstate_and_admin_listing(api):
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="sam"
    )
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "ad-free", "paymentMethodId": "pm_card_visa"}}, user="tia"
    )
    suspended = await api.gql(
        'mutation { suspendSubscription(input: {userId: "sam", reason: "fraud"}) '
        "{ subscription { status entitlements { features } } errors { code } } }",
        user="root",
        roles=ADMIN,
    )
    assert suspended["data"]["suspendSubscription"]["subscription"] == {
        "status": "SUSPENDED",
        "entitlements": {"features": []},
    }
    listing = await api.gql(
        "{ adminSubscriptions(filter: {status: SUSPENDED}, first: 10) { nodes { userId status } pageInfo { hasNextPage } } }",
        user="root",
        roles=ADMIN,
    )
    assert listing["data"]["adminSubscriptions"]["nodes"] == [
        {"userId": "sam", "status": "SUSPENDED"}
    ]
    by_plan = await api.gql(
        '{ adminSubscriptions(filter: {planCode: "ad-free"}) { nodes { userId } } }',
        user="root",
        roles=ADMIN,
    )
    assert by_plan["data"]["adminSubscriptions"]["nodes"] == [{"userId": "tia"}]
    reinstated = await api.gql(
        'mutation { reinstateSubscription(input: {userId: "sam"}) { subscription { status } errors { code } } }',
        user="root",
        roles=ADMIN,
    )
    assert reinstated["data"]["reinstateSubscription"]["subscription"]["status"] == "TRIALING"
    again = await api.gql(
        'mutation { reinstateSubscription(input: {userId: "sam"}) { subscription { status } errors { code } } }',
        user="root",
        roles=ADMIN,
    )
    assert again["data"]["reinstateSubscription"]["errors"][0]["code"] == "INVALID_TRANSITION"


async def test_services_look_up_any_user_and_users_only_themselves(api):
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="uma"
    )
    query = '{ subscriptionStatus(userId: "uma") { userId status planCode tier features } entitlements(userId: "uma") { tier } }'
    as_service = await api.gql(query, user="playback", roles=(Role.SERVICE,))
    assert as_service["data"]["subscriptionStatus"]["status"] == "TRIALING"
    assert as_service["data"]["entitlements"]["tier"] == "premium"
    as_self = await api.gql(query, user="uma")
    assert "errors" not in as_self
    assert as_self["data"]["subscriptionStatus"]["status"] == "TRIALING"
    as_other_user = await api.gql(query, user="ned")
    assert {e["extensions"]["code"] for e in as_other_user["errors"]} == {"FORBIDDEN"}
    malformed = await api.gql(
        '{ entitlements(userId: "a b") { tier } }', user="playback", roles=(Role.SERVICE,)
    )
    assert malformed["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


ADMIN_OPERATIONS = [
    "{ adminSubscriptions { nodes { id } } }",
    '{ pricingHistory(planCode: "premium") { priceCents } }',
    'mutation { archivePlan(input: {code: "premium"}) { errors { code } } }',
    'mutation { setPlanPrice(input: {planCode: "premium", priceCents: 1, currency: "USD"}) { errors { code } } }',
    'mutation { suspendSubscription(input: {userId: "x"}) { errors { code } } }',
    'mutation { reinstateSubscription(input: {userId: "x"}) { errors { code } } }',
    'mutation { createPlan(input: {code: "zz", name: "Z", priceCents: 1, currency: "USD", interval: MONTH, tierRank: 1}) { errors { code } } }',
    'mutation { updatePlan(input: {code: "premium", name: "Hacked"}) { errors { code } } }',
]


@pytest.mark.parametrize("operation", ADMIN_OPERATIONS)
async def test_non_admins_never_reach_admin_operations(api, operation):
    for roles in ((), (Role.SERVICE,)):
        body = await api.gql(operation, user="eve", roles=roles)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await api.gql(operation)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    plan = await api.gql('{ plan(code: "premium") { name priceCents archived } }')
    assert plan["data"]["plan"] == {"name": "Premium", "priceCents": 999, "archived": False}


def _none_token() -> str:
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")  # noqa: E731
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': 'eve', 'roles': ['admin'], 'iss': 'subscription-service', 'aud': 'subscription-service', 'exp': 4102444800})}."


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        jwt.encode({"sub": "eve", "exp": 4102444800}, "x" * 40, algorithm="HS256"),
        _none_token(),
    ],
)
async def test_bad_tokens_are_unauthenticated(api, token):
    body = await api.gql("{ mySubscription { id } }", token=token)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "invalid token" in body["errors"][0]["message"]


async def test_expired_token_is_refused(api, settings):
    from datetime import UTC, datetime, timedelta

    from services.platform.auth import mint_token

    token = mint_token(
        settings, "eve", [], datetime.now(UTC) - timedelta(days=2), timedelta(hours=1)
    )
    body = await api.gql("{ me { userId } }", token=token)
    assert "expired" in body["errors"][0]["message"]


async def test_deep_alias_and_huge_queries_are_refused(api):
    aliased = await api.gql("{ " + " ".join(f"a{i}: plans {{ code }}" for i in range(20)) + " }")
    assert "aliases" in aliased["errors"][0]["message"].lower()
    huge = await api.gql("{ " + " ".join(["plans { code }"] * 800) + " }")
    assert "token" in huge["errors"][0]["message"].lower()
    deep = await api.gql("{ me " + "{ entitlements " * 12 + "{ tier }" + " }" * 13)
    assert any("exceeds maximum operation depth" in e["message"] for e in deep["errors"])
    assert (await api.gql("{ me { entitlements { tier } } }", user="eve"))["data"]["me"]


async def test_oversized_bodies_get_413(api):
    response = await api.client.post(
        "/graphql",
        content=b"{" + b" " * (70 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "PAYLOAD_TOO_LARGE"
