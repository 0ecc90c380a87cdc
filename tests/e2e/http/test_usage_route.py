"""POST /api/v1/usage: a batch of usage events from a service, each answered on its own."""

from __future__ import annotations

from services.platform.auth import Role
from tests.e2e.graphql.test_graphql_customer import SUBSCRIBE
from tests.e2e.graphql.test_usage import define_ai_calls


def bearer(api, user: str, *roles: Role) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {api.token(user, *roles)}"}


def event(event_id: str, meter: str = "ai.calls") -> dict[str, object]:
    return {"userId": "val", "meterKey": meter, "quantity": 1, "eventId": event_id}


async def test_a_batch_counts_each_event_once_and_answers_each(api, deps):
    await define_ai_calls(api)
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="val"
    )
    batch = [event("v1"), event("v1"), event("v2"), event("v3", meter="nope")]
    response = await api.client.post(
        "/api/v1/usage", json={"events": batch}, headers=bearer(api, "coach", Role.SERVICE)
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["counted"] for r in results] == [True, True, True, False]
    assert results[1] == results[0]  # a replay answers as the first time
    assert results[2]["remaining"] == 1
    assert results[3]["errors"][0]["code"] == "METER_NOT_FOUND"
    mine = await api.gql("{ myUsage { used periodEnd } }", user="val")
    [usage] = mine["data"]["myUsage"]
    assert usage["used"] == 2
    # resetsAt is written as the GraphQL API and the other routes write times.
    assert results[2]["resetsAt"] == usage["periodEnd"]


async def test_a_full_batch_fits_and_bad_batches_are_refused(api):
    await define_ai_calls(api)
    service = bearer(api, "coach", Role.SERVICE)
    full = [event(f"f{n}") | {"userId": f"user-{n}"} for n in range(1000)]
    fits = await api.client.post("/api/v1/usage", json={"events": full}, headers=service)
    assert fits.status_code == 200  # ~90 KB: past MAX_BODY_BYTES, within USAGE_BATCH_MAX_BYTES
    assert len(fits.json()["results"]) == 1000
    too_many = await api.client.post(
        "/api/v1/usage", json={"events": [*full, event("extra")]}, headers=service
    )
    assert too_many.status_code == 400
    as_user = await api.client.post(
        "/api/v1/usage", json={"events": [event("u1")]}, headers=bearer(api, "val")
    )
    assert as_user.status_code == 403
    malformed = await api.client.post(
        "/api/v1/usage", json={"events": [{"userId": "val"}]}, headers=service
    )
    assert malformed.status_code == 400
