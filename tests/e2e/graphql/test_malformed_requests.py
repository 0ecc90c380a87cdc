"""Requests that once ended in a 500 get a typed 4xx or a coded error instead."""

from __future__ import annotations

import jwt
import pytest

OWN = "subscription { subscriptionStatusChanged { status } }"


def signed(api, **claims) -> str:  # type: ignore[no-untyped-def]
    base = {
        "sub": "rolf",
        "iss": api.settings.jwt_issuer,
        "aud": api.settings.jwt_audience,
        "exp": 4102444800,
    }
    return jwt.encode({**base, **claims}, api.settings.hs256_secret, algorithm="HS256")


@pytest.mark.parametrize("roles", [[["admin"]], [{"admin": True}], {"admin": True}])
async def test_a_signed_token_with_malformed_roles_is_unauthenticated(api, roles):
    token = signed(api, roles=roles)
    rest = await api.client.get("/currentuser", headers={"Authorization": f"Bearer {token}"})
    assert rest.status_code == 401
    assert "roles claim must be a list of strings" in rest.json()["errors"][0]["message"]
    body = await api.gql("{ mySubscription { id } }", token=token)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_subscription_over_http_gets_a_clear_error(api):
    token = api.token("sue")
    headers = {"Authorization": f"Bearer {token}"}
    post = await api.client.post("/graphql", json={"query": OWN}, headers=headers)
    get = await api.client.get("/graphql", params={"query": OWN}, headers=headers)
    for response in (post, get):
        assert response.status_code == 400
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "websocket" in post.json()["errors"][0]["message"]


@pytest.mark.parametrize("first", ["²", "١٠", "-1", "0", "9" * 40, "1.5"])
async def test_rest_page_sizes_are_ascii_integers(api, first):
    response = await api.client.get(
        "/api/v1/subscriptions/invoices",
        params={"first": first},
        headers={"Authorization": f"Bearer {api.token('pam')}"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "first"


async def test_a_huge_echoed_value_is_cut(api):
    response = await api.client.post(
        "/api/v1/subscriptions/upgrade",
        json={"planCode": "p" * 10_000, "paymentMethodId": "pm_card_visa"},
        headers={"Authorization": f"Bearer {api.token('eco')}"},
    )
    assert response.status_code == 404
    assert len(response.json()["errors"][0]["message"]) <= 200
