"""The seed's REST surface and the operational routes, on a live server."""

from __future__ import annotations

from services.platform.auth import Role
from tests.conftest import scalar


def auth(api, user: str, *roles: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token(user, *roles)}"}


async def test_plans_route_is_public(api):
    response = await api.client.get("/api/v1/subscriptions/plans")
    assert response.status_code == 200
    assert [p["code"] for p in response.json()["plans"]] == ["free", "ad-free", "premium"]
    assert response.json()["plans"][2]["priceCents"] == 999


async def test_upgrade_route_subscribes_a_free_user_then_upgrades(api):
    headers = auth(api, "rae")
    me = await api.client.get("/api/v1/subscriptions/me", headers=headers)
    assert me.json() == {
        "subscription": None,
        "entitlements": {
            "userId": "rae",
            "tier": "free",
            "features": ["basic_content"],
            "status": None,
        },
    }
    started = await api.client.post(
        "/api/v1/subscriptions/upgrade",
        json={"planCode": "ad-free", "paymentMethodId": "pm_card_visa"},
        headers=headers,
    )
    assert started.status_code == 200, started.text
    assert started.json()["subscription"]["status"] == "TRIALING"
    upgraded = await api.client.post(
        "/api/v1/subscriptions/upgrade",
        json={"planCode": "premium"},
        headers={**headers, "Idempotency-Key": "rest-up-1"},
    )
    assert upgraded.json()["subscription"]["plan"]["code"] == "premium"
    cancelled = await api.client.post(
        "/api/v1/subscriptions/cancel", json={"reason": "budget"}, headers=headers
    )
    assert cancelled.json()["subscription"]["cancelAtPeriodEnd"] is True
    invoices = await api.client.get("/api/v1/subscriptions/invoices", headers=headers)
    assert invoices.json() == {
        "invoices": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }


async def test_rest_errors_are_typed_json(api):
    headers = auth(api, "sid")
    unknown = await api.client.post(
        "/api/v1/subscriptions/upgrade", json={"planCode": "gold"}, headers=headers
    )
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == "PLAN_NOT_FOUND"
    bad_json = await api.client.post(
        "/api/v1/subscriptions/upgrade", content=b"{not json", headers=headers
    )
    assert bad_json.status_code == 400
    wrong_type = await api.client.post(
        "/api/v1/subscriptions/cancel", json={"atPeriodEnd": "yes"}, headers=headers
    )
    assert (
        wrong_type.status_code == 400 and wrong_type.json()["errors"][0]["field"] == "atPeriodEnd"
    )
    nothing = await api.client.post("/api/v1/subscriptions/cancel", json={}, headers=headers)
    assert nothing.status_code == 404 and nothing.json()["errors"][0]["code"] == "NO_SUBSCRIPTION"
    bad_first = await api.client.get("/api/v1/subscriptions/invoices?first=-1", headers=headers)
    assert bad_first.status_code == 400
    anonymous = await api.client.get("/api/v1/subscriptions/me")
    assert anonymous.status_code == 401


async def test_status_route_is_for_services_and_admins(api):
    await api.client.post(
        "/api/v1/subscriptions/upgrade",
        json={"planCode": "premium", "paymentMethodId": "pm_card_visa"},
        headers=auth(api, "tom"),
    )
    as_service = await api.client.get(
        "/api/v1/subscriptions/status/tom", headers=auth(api, "playback", Role.SERVICE)
    )
    assert as_service.status_code == 200
    assert as_service.json()["status"] == "TRIALING" and as_service.json()["tier"] == "premium"
    as_self = await api.client.get("/api/v1/subscriptions/status/tom", headers=auth(api, "tom"))
    assert as_self.status_code == 200 and as_self.json()["status"] == "TRIALING"
    as_other = await api.client.get("/api/v1/subscriptions/status/tom", headers=auth(api, "ned"))
    assert as_other.status_code == 403
    malformed = await api.client.get(
        "/api/v1/subscriptions/status/bad%20id", headers=auth(api, "root", Role.ADMIN)
    )
    assert malformed.status_code == 400


async def test_health_readiness_currentuser_and_metrics(api):
    assert (await api.client.get("/health")).json() == {"status": "ok"}
    ready = await api.client.get("/admin/health")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "worker": "ok"}
    me = await api.client.get("/currentuser", headers=auth(api, "una", Role.ADMIN))
    assert me.json() == {"userId": "una", "roles": ["admin"]}
    assert (await api.client.get("/currentuser")).status_code == 401
    metrics = await api.client.get("/metrics")
    assert 'http_requests_total{method="GET",route="/health",status="200"}' in metrics.text


async def test_unknown_paths_and_methods_cannot_grow_the_metrics(api):
    def series(text: str) -> int:
        return sum(1 for line in text.splitlines() if line.startswith("http_requests_total{"))

    await api.client.get("/api/v1/subscriptions/warm-up")
    before = (await api.client.get("/metrics")).text
    for n in range(300):
        await api.client.get(f"/api/v1/subscriptions/probe-{n}")
        await api.client.request(f"M{n}", "/graphql")
    after = (await api.client.get("/metrics")).text
    assert series(after) - series(before) <= 3  # at most new status / method buckets
    assert 'route="unmatched"' in after and "probe-1" not in after
    status_route = await api.client.get(
        "/api/v1/subscriptions/status/someone", headers=auth(api, "root", Role.ADMIN)
    )
    assert status_route.status_code == 200
    metrics = (await api.client.get("/metrics")).text
    assert 'route="/api/v1/subscriptions/status/{user_id}"' in metrics
    assert "status/someone" not in metrics


async def test_a_rest_upgrade_retried_with_its_idempotency_key_replays_the_first_result(api, deps):
    headers = {**auth(api, "ida"), "Idempotency-Key": "upgrade-ida-1"}
    body = {"planCode": "premium", "paymentMethodId": "pm_card_visa"}
    first = await api.client.post("/api/v1/subscriptions/upgrade", json=body, headers=headers)
    again = await api.client.post("/api/v1/subscriptions/upgrade", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["subscription"]["status"] == "TRIALING"
    assert await scalar(deps, "SELECT count(*) FROM subscriptions WHERE user_id = 'ida'") == 1
    other = {**body, "planCode": "ad-free"}
    reused = await api.client.post("/api/v1/subscriptions/upgrade", json=other, headers=headers)
    assert reused.status_code == 409
    assert reused.json()["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
