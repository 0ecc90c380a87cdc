"""User ids passed as arguments are held to what a token's `sub` must be: an empty or a
300-character id is INVALID_INPUT on `userId`, never INTERNAL_ERROR, over GraphQL and
the REST usage batch, and nothing is written."""

from __future__ import annotations

import json

import pytest

from services.platform.auth import Role
from tests.conftest import scalar

ADMIN, SERVICE = (Role.ADMIN,), (Role.SERVICE,)
OPERATIONS = [
    (
        'mutation($u: String!) { adjustCredit(input: {userId: $u, amountCents: 100, currency: "USD",'
        ' reason: "r"}) { entry { amountCents } errors { code field } } }',
        ADMIN,
    ),
    (
        'mutation($u: String!) { consumeQuota(input: {userId: $u, meterKey: "ai.calls",'
        ' eventId: "e1"}) { allowed reason } }',
        SERVICE,
    ),
    (
        'mutation($u: String!) { recordUsage(input: {userId: $u, meterKey: "ai.calls",'
        ' quantity: 1, eventId: "e2"}) { errors { code field } } }',
        SERVICE,
    ),
    ("query($u: String!) { usage(userId: $u) { meterKey } }", SERVICE),
    ("query($u: String!) { userPayments(userId: $u) { id } }", ADMIN),
    ("query($u: String!) { creditNotes(userId: $u) { number } }", ADMIN),
    ("query($u: String!) { quotaPacks(userId: $u) { planCode } }", ADMIN),
    ("query($u: String!) { creditLedger(userId: $u) { nodes { amountCents } } }", ADMIN),
    (
        "mutation($u: String!) { suspendSubscription(input: {userId: $u}) {"
        " subscription { status } errors { code field } } }",
        ADMIN,
    ),
    (
        "mutation($u: String!) { retryPaymentNow(input: {userId: $u}) {"
        " subscription { status } errors { code field } } }",
        ADMIN,
    ),
    (
        "mutation($u: String!) { markUncollectible(input: {userId: $u}) {"
        " subscription { status } errors { code field } } }",
        ADMIN,
    ),
    (
        'mutation($u: String!) { changePlanFor(input: {userId: $u, planCode: "premium",'
        ' reason: "r"}) { subscription { status } errors { code field } } }',
        ADMIN,
    ),
]


def _codes(body: object) -> list[tuple[str, object]]:
    """Every (code, field) the answer carries: payload errors and GraphQL errors."""
    found: list[tuple[str, object]] = []
    if isinstance(body, dict):
        if isinstance(body.get("code"), str):
            found.append((body["code"], body.get("field")))
        extensions = body.get("extensions")
        if isinstance(extensions, dict) and isinstance(extensions.get("code"), str):
            found.append((extensions["code"], extensions.get("field")))
        for value in body.values():
            found += _codes(value)
    elif isinstance(body, list):
        for item in body:
            found += _codes(item)
    return found


@pytest.mark.parametrize("user_id", ["", "u" * 300])
async def test_a_malformed_user_id_argument_is_invalid_input_everywhere(api, deps, user_id):
    for query, roles in OPERATIONS:
        # An admin of this test's own: the mutation rate limit is per caller.
        answer = await api.gql(query, {"u": user_id}, user=f"uid-{len(user_id)}", roles=roles)
        codes = _codes(answer)
        assert ("INVALID_INPUT", "userId") in codes, (query, json.dumps(answer))
        assert all(code != "INTERNAL_ERROR" for code, _ in codes), (query, answer)
    batch = await api.client.post(
        "/api/v1/usage",
        json={"events": [{"userId": user_id, "meterKey": "ai.calls", "eventId": "e3"}]},
        headers={"Authorization": f"Bearer {api.token('svc', Role.SERVICE)}"},
    )
    assert batch.status_code == 400, batch.text
    [error] = batch.json()["errors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "events.0.userId")
    written = await scalar(
        deps,
        "SELECT (SELECT count(*) FROM credit_ledger) + (SELECT count(*) FROM usage_events)",
    )
    assert written == 0
