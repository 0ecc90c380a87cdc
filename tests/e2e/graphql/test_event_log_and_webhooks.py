"""The event log and webhook endpoints over GraphQL and REST on the live server:
admins and services page the log with opaque cursors, a customer reads only their own
events, admins manage endpoints (the secret shown once) and see deliveries."""

from __future__ import annotations

from services.platform.auth import Role
from tests.e2e.graphql.test_graphql_customer import SUBSCRIBE

ADMIN = (Role.ADMIN,)
EVENTS = """query($after: String, $types: [String!]) { events(first: 2, after: $after,
  types: $types) { edges { cursor node { id type subject time data } }
  pageInfo { hasNextPage endCursor } } }"""
CREATE = """mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  endpoint { id url eventTypes status secret } errors { code field } } }"""


async def test_the_log_pages_with_cursors_and_customers_see_their_own(api):
    for user in ("e1", "e2"):
        answer = await api.gql(
            SUBSCRIBE,
            {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}},
            user=user,
        )
        assert answer["data"]["subscribe"]["errors"] == []
    seen, after = [], None
    while True:
        page = (await api.gql(EVENTS, {"after": after}, user="svc", roles=(Role.SERVICE,)))["data"][
            "events"
        ]
        seen += [edge["node"] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert len({node["id"] for node in seen}) == len(seen) >= 4
    assert {node["subject"] for node in seen if node["type"] == "subscription.started"} == {
        "e1",
        "e2",
    }
    mine = await api.gql("{ myEvents(first: 50) { edges { node { subject type } } } }", user="e1")
    nodes = [edge["node"] for edge in mine["data"]["myEvents"]["edges"]]
    assert nodes and {node["subject"] for node in nodes} == {"e1"}
    refused = await api.gql(EVENTS, {}, user="e1")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    rest = await api.client.get(
        "/api/v1/events?limit=3&types=subscription.started",
        headers={"Authorization": f"Bearer {api.token('svc', Role.SERVICE)}"},
    )
    body = rest.json()
    assert rest.status_code == 200 and [e["event"]["subject"] for e in body["data"]] == [
        "e1",
        "e2",
    ]
    assert body["hasMore"] is False and body["endCursor"] == body["data"][-1]["cursor"]
    bad = await api.client.get(
        "/api/v1/events?after=nope",
        headers={"Authorization": f"Bearer {api.token('svc', Role.SERVICE)}"},
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "after"
    customer = await api.client.get(
        "/api/v1/events", headers={"Authorization": f"Bearer {api.token('e1')}"}
    )
    assert customer.status_code == 403


async def test_webhook_endpoints_over_graphql(api):
    made = await api.gql(
        CREATE,
        {"i": {"url": "http://127.0.0.1:9/hook", "eventTypes": ["subscription.started"]}},
        user="root",
        roles=ADMIN,
    )
    endpoint = made["data"]["createWebhookEndpoint"]["endpoint"]
    assert endpoint["secret"].startswith("whsec_") and endpoint["status"] == "ENABLED"
    listed = await api.gql("{ webhookEndpoints { id secret status } }", user="root", roles=ADMIN)
    assert listed["data"]["webhookEndpoints"] == [
        {"id": endpoint["id"], "secret": None, "status": "ENABLED"}
    ]
    bad = await api.gql(CREATE, {"i": {"url": "gopher://x"}}, user="root", roles=ADMIN)
    assert bad["data"]["createWebhookEndpoint"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "url"}
    ]
    disabled = await api.gql(
        "mutation($i: WebhookEndpointIdInput!) { disableWebhookEndpoint(input: $i) {"
        " endpoint { status } errors { code } } }",
        {"i": {"endpointId": endpoint["id"]}},
        user="root",
        roles=ADMIN,
    )
    assert disabled["data"]["disableWebhookEndpoint"]["endpoint"]["status"] == "DISABLED"
    rotated = await api.gql(
        "mutation($i: WebhookEndpointIdInput!) { rotateWebhookSecret(input: $i) {"
        " endpoint { secret } errors { code } } }",
        {"i": {"endpointId": endpoint["id"]}},
        user="root",
        roles=ADMIN,
    )
    assert rotated["data"]["rotateWebhookSecret"]["endpoint"]["secret"] != endpoint["secret"]
    deliveries = await api.gql(
        "query($e: ID!) { webhookDeliveries(endpointId: $e) { nodes { id status"
        " attempts { attempt statusCode durationMs error } } pageInfo { hasNextPage } } }",
        {"e": endpoint["id"]},
        user="root",
        roles=ADMIN,
    )
    assert deliveries["data"]["webhookDeliveries"] == {
        "nodes": [],
        "pageInfo": {"hasNextPage": False},
    }
    customer = await api.gql("{ webhookEndpoints { id } }", user="e1")
    assert customer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    deleted = await api.gql(
        "mutation($i: WebhookEndpointIdInput!) { deleteWebhookEndpoint(input: $i) {"
        " endpoint { id } errors { code } } }",
        {"i": {"endpointId": endpoint["id"]}},
        user="root",
        roles=ADMIN,
    )
    assert deleted["data"]["deleteWebhookEndpoint"]["errors"] == []
    after = await api.gql("{ webhookEndpoints { id } }", user="root", roles=ADMIN)
    assert after["data"]["webhookEndpoints"] == []
