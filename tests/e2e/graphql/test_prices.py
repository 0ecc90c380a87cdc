"""Prices over GraphQL on the live server: setPlanPrice with a choice for existing
subscribers (and its refusals), previewPlanPrice, per-customer prices, and a
subscription's own price as its owner reads it."""

from __future__ import annotations

from datetime import timedelta

from services.platform.auth import Role
from tests.e2e.graphql.test_graphql_customer import SUBSCRIBE

ADMIN = (Role.ADMIN,)
SET_PRICE = """mutation($i: SetPlanPriceInput!) { setPlanPrice(input: $i) {
  plan { priceCents description } errors { code field } } }"""
MINE = """{ mySubscription { priceCents scheduledPriceChange { priceCents effectiveAt }
  priceOverride { priceCents until } } }"""


async def test_prices_over_graphql(api):
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "ad-free", "paymentMethodId": "pm_card_visa"}}, user="gq"
    )
    preview = await api.gql(
        '{ previewPlanPrice(planCode: "ad-free", priceCents: 599) { subscribersKeeping'
        " subscribersMoving monthlyRecurringDeltaCents } }",
        user="root",
        roles=ADMIN,
    )
    # One subscriber, in a trial: reached by the change, no recurring revenue yet.
    assert preview["data"]["previewPlanPrice"] == {
        "subscribersKeeping": 1,
        "subscribersMoving": 1,
        "monthlyRecurringDeltaCents": 0,
    }
    refused = await api.gql(
        SET_PRICE,
        {
            "i": {
                "planCode": "ad-free",
                "priceCents": 599,
                "currency": "USD",
                "existingSubscribers": "MOVE_AT",
            }
        },
        user="root",
        roles=ADMIN,
    )
    assert refused["data"]["setPlanPrice"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "moveAt"}
    ]
    kept = await api.gql(
        SET_PRICE,
        {"i": {"planCode": "ad-free", "priceCents": 599, "currency": "USD", "note": "internal"}},
        user="root",
        roles=ADMIN,
    )
    assert kept["data"]["setPlanPrice"]["plan"]["priceCents"] == 599
    assert kept["data"]["setPlanPrice"]["plan"]["description"] != "internal"
    mine = (await api.gql(MINE, user="gq"))["data"]["mySubscription"]
    assert mine == {"priceCents": 499, "scheduledPriceChange": None, "priceOverride": None}
    later = (api.clock.now() + timedelta(days=100)).isoformat()
    moved = await api.gql(
        SET_PRICE,
        {
            "i": {
                "planCode": "ad-free",
                "priceCents": 649,
                "currency": "USD",
                "existingSubscribers": "MOVE_AT",
                "moveAt": later,
            }
        },
        user="root",
        roles=ADMIN,
    )
    assert moved["data"]["setPlanPrice"]["errors"] == []
    mine = (await api.gql(MINE, user="gq"))["data"]["mySubscription"]
    assert mine["priceCents"] == 499 and mine["scheduledPriceChange"]["priceCents"] == 649
    own = await api.gql(
        'mutation { setCustomerPrice(input: {userId: "gq", planCode: "ad-free", priceCents: 399})'
        " { customerPrice { userId planCode priceCents until } errors { code } } }",
        user="root",
        roles=ADMIN,
    )
    assert own["data"]["setCustomerPrice"]["customerPrice"] == {
        "userId": "gq",
        "planCode": "ad-free",
        "priceCents": 399,
        "until": None,
    }
    mine = (await api.gql(MINE, user="gq"))["data"]["mySubscription"]
    assert mine["priceCents"] == 399 and mine["priceOverride"] == {"priceCents": 399, "until": None}
    forbidden = await api.gql(
        'mutation { removeCustomerPrice(input: {userId: "gq", planCode: "ad-free"}) { errors { code } } }',
        user="gq",
    )
    assert forbidden["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "UNAUTHORIZED")
    removed = await api.gql(
        'mutation { removeCustomerPrice(input: {userId: "gq", planCode: "ad-free"}) { errors { code } } }',
        user="root",
        roles=ADMIN,
    )
    assert removed["data"]["removeCustomerPrice"]["errors"] == []


SET_POLICY = """mutation($i: SetPlanPolicyInput!) { setPlanPolicy(input: $i) {
  plan { policy { proration upgradeTiming downgradeTiming retryDays graceDays afterGrace } }
  errors { code field } } }"""


async def test_plan_policies_over_graphql(api):
    plans = await api.gql("{ plans { code policy { retryDays graceDays afterGrace } } }")
    assert {p["code"]: p["policy"] for p in plans["data"]["plans"]}["premium"] == {
        "retryDays": [1, 3, 5],
        "graceDays": 7,
        "afterGrace": "EXPIRE",
    }
    chosen = {
        "planCode": "premium",
        "proration": "FULL_PERIOD",
        "downgradeTiming": "IMMEDIATE",
        "retryDays": [2, 4],
        "graceDays": 6,
        "afterGrace": "PAUSE",
    }
    done = await api.gql(SET_POLICY, {"i": chosen}, user="root", roles=ADMIN)
    assert done["data"]["setPlanPolicy"] == {
        "plan": {
            "policy": {
                "proration": "FULL_PERIOD",
                "upgradeTiming": "IMMEDIATE",  # left out: kept
                "downgradeTiming": "IMMEDIATE",
                "retryDays": [2, 4],
                "graceDays": 6,
                "afterGrace": "PAUSE",
            }
        },
        "errors": [],
    }
    refused = await api.gql(
        SET_POLICY, {"i": {"planCode": "premium", "retryDays": [6]}}, user="root", roles=ADMIN
    )
    assert refused["data"]["setPlanPolicy"] == {
        "plan": None,
        "errors": [{"code": "INVALID_INPUT", "field": "retryDays"}],
    }
    customer = await api.gql(SET_POLICY, {"i": {"planCode": "premium", "graceDays": 1}}, user="gq")
    assert customer["data"] is None or customer["data"]["setPlanPolicy"] is None
    assert customer["errors"]
    after = await api.gql("{ plans { code policy { graceDays } } }")
    assert {p["code"]: p["policy"] for p in after["data"]["plans"]}["premium"] == {"graceDays": 6}
