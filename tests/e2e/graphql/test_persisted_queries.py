"""Automatic persisted queries on POST /graphql: a hash instead of the document."""

from __future__ import annotations

import hashlib
import json
from typing import Any

QUERY = "{ plans { code priceCents } }"


def apq(query: str | None, digest: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
        **extra,
    }
    if query is not None:
        body["query"] = query
    return body


async def test_an_unknown_hash_is_asked_for_then_the_hash_alone_is_enough(api):
    # A document no other test sends, so this process cannot have seen its hash.
    query = QUERY + " # apq-first"
    digest = hashlib.sha256(query.encode()).hexdigest()
    unknown = await api.client.post("/graphql", json=apq(None, digest))
    assert unknown.status_code == 200
    assert unknown.json()["data"] is None
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    registered = await api.client.post("/graphql", json=apq(query, digest))
    plans = registered.json()["data"]["plans"]
    assert [p["code"] for p in plans] == ["free", "ad-free", "premium"]

    by_hash = await api.client.post("/graphql", json=apq(None, digest))
    assert by_hash.json() == registered.json()


async def test_a_persisted_query_keeps_variables_and_auth(api):
    query = "query Me($first: Int!) { invoices(first: $first) { pageInfo { hasNextPage } } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    headers = {"Authorization": f"Bearer {api.token('ada')}"}
    variables = {"first": 5}
    await api.client.post("/graphql", json=apq(query, digest, variables=variables), headers=headers)
    again = await api.client.post(
        "/graphql", json=apq(None, digest, variables=variables), headers=headers
    )
    assert again.json() == {"data": {"invoices": {"pageInfo": {"hasNextPage": False}}}}
    anonymous = await api.client.post("/graphql", json=apq(None, digest, variables=variables))
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_hash_that_does_not_match_its_document_is_refused_and_not_remembered(api):
    wrong = hashlib.sha256(b"something else").hexdigest()
    refused = await api.client.post("/graphql", json=apq(QUERY, wrong))
    assert refused.status_code == 400
    assert "does not match" in refused.text
    still_unknown = await api.client.post("/graphql", json=apq(None, wrong))
    assert still_unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_malformed_persisted_query_extensions_get_400(api):
    for extensions in (
        "nope",
        {"persistedQuery": "nope"},
        {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}},
        {"persistedQuery": {"version": 1, "sha256Hash": "XYZ"}},
    ):
        response = await api.client.post("/graphql", json={"extensions": extensions})
        assert response.status_code == 400, extensions


async def test_an_invalid_document_is_not_remembered_under_its_hash(api):
    query = "{ plans { nope } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    invalid = await api.client.post("/graphql", json=apq(query, digest))
    assert invalid.json()["errors"][0]["message"].startswith("Cannot query field 'nope'")
    again = await api.client.post("/graphql", json=apq(None, digest))
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


def apq_params(digest: str, variables: dict[str, Any] | None = None) -> dict[str, str]:
    params = {"extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}})}
    if variables is not None:
        params["variables"] = json.dumps(variables)
    return params


async def test_refusals_are_json_graphql_errors(api):
    wrong = hashlib.sha256(b"another document").hexdigest()
    refused = await api.client.post("/graphql", json=apq(QUERY, wrong))
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"] == "provided sha does not match query"
    garbage = await api.client.post(
        "/graphql", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert garbage.status_code == 400 and garbage.json()["errors"][0]["extensions"]["code"]


async def test_a_hashed_query_may_come_by_get_and_is_cached_only_without_a_token(api):
    query = "query Mine($first: Int!) { invoices(first: $first) { pageInfo { hasNextPage } } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    headers = {"Authorization": f"Bearer {api.token('gil')}"}
    unknown = await api.client.get("/graphql", params=apq_params(digest, {"first": 1}))
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert unknown.headers["cache-control"] == "no-store"
    await api.client.post(
        "/graphql", json=apq(query, digest, variables={"first": 1}), headers=headers
    )

    by_get = await api.client.get(
        "/graphql", params=apq_params(digest, {"first": 1}), headers=headers
    )
    assert by_get.json() == {"data": {"invoices": {"pageInfo": {"hasNextPage": False}}}}
    assert by_get.headers["cache-control"] == "private, no-store"

    public_digest = hashlib.sha256(QUERY.encode()).hexdigest()
    await api.client.post("/graphql", json=apq(QUERY, public_digest))
    plans = await api.client.get("/graphql", params=apq_params(public_digest))
    assert [p["code"] for p in plans.json()["data"]["plans"]] == ["free", "ad-free", "premium"]
    assert plans.headers["cache-control"].startswith("public")


async def test_a_mutation_never_runs_from_a_get(api, deps):
    mutation = 'mutation { cancelSubscription(input: {reason: "via GET"}) { errors { code } } }'
    digest = hashlib.sha256(mutation.encode()).hexdigest()
    headers = {"Authorization": f"Bearer {api.token('max')}"}
    registered = await api.client.post("/graphql", json=apq(mutation, digest), headers=headers)
    assert registered.json()["data"]["cancelSubscription"]["errors"][0]["code"] == "NO_SUBSCRIPTION"
    refused = await api.client.get("/graphql", params=apq_params(digest), headers=headers)
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert refused.json()["errors"][0]["message"] == "mutations need POST"
    no_hash = await api.client.get(
        "/graphql", params={"query": "{ plans { code } }", "extensions": "{}"}
    )
    assert no_hash.status_code == 400
