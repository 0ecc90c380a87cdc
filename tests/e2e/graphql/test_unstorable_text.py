"""A NUL character in any string that enters (GraphQL literals and variables, REST
bodies, paths and query strings) is refused with a coded INVALID_INPUT naming the field,
and nothing is written. The operations are the ones schema fuzzing found."""

from __future__ import annotations

import pytest

from services.platform.auth import Role
from tests.conftest import scalar

NUL = "a\x00b"
ADMIN = (Role.ADMIN,)
OPERATIONS = [
    (
        "mutation($s: String!) { addPaymentMethod(input: {paymentMethodId: $s}) { errors { code } } }",
        (),
    ),
    ("mutation($s: String!) { archivePlan(input: {code: $s}) { errors { code } } }", ADMIN),
    (
        "mutation($s: String!) { detachPaymentMethod(input: {paymentMethodId: $s}) { errors { code } } }",
        (),
    ),
    (
        "mutation($s: String!) { setDefaultPaymentMethod(input: {paymentMethodId: $s}) { errors { code } } }",
        (),
    ),
    (
        'mutation($s: String!) { updatePlan(input: {code: "premium", name: $s}) { errors { code } } }',
        ADMIN,
    ),
    ("mutation($s: String!) { upgrade(input: {planCode: $s}) { errors { code } } }", ()),
    ("query($s: String!) { adminSubscriptions(filter: {planCode: $s}) { nodes { id } } }", ADMIN),
    ("query($s: String!) { entitlements(userId: $s) { tier } }", ADMIN),
    ("query($s: String!) { invoices(after: $s) { nodes { id } } }", ()),
    ("query($s: String!) { previewPlanChange(planCode: $s) { amountDueCents } }", ()),
    ("query($s: String!) { pricingHistory(planCode: $s) { priceCents } }", ADMIN),
    ("query($s: String!) { subscriptionHistory(subscriptionId: $s) { reason } }", ()),
    ("query($s: String!) { subscriptionStatus(userId: $s) { status } }", ADMIN),
]


@pytest.mark.parametrize(("document", "roles"), OPERATIONS)
async def test_a_nul_in_a_variable_is_invalid_input(api, document, roles):
    body = await api.gql(document, {"s": NUL}, user="nia", roles=roles)
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "s"}


@pytest.mark.parametrize(("document", "roles"), OPERATIONS)
async def test_a_nul_in_a_literal_is_invalid_input(api, document, roles):
    literal = document.split("{", 1)[1].rsplit("}", 1)[0].replace("$s", '"a\\u0000b"')
    kind = document.split("(", 1)[0]
    body = await api.gql(f"{kind} {{{literal}}}", user="nia", roles=roles)
    assert body["data"] is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert "NUL character" in error["message"]


async def test_nothing_is_written_for_a_refused_plan_update(api, deps):
    before = await scalar(deps, "SELECT name FROM plans WHERE code = 'premium'")
    await api.gql(OPERATIONS[4][0], {"s": NUL}, user="root", roles=ADMIN)
    assert await scalar(deps, "SELECT name FROM plans WHERE code = 'premium'") == before


async def test_rest_bodies_paths_and_query_strings_refuse_nul(api):
    headers = {"Authorization": f"Bearer {api.token('rex')}"}
    upgrade = await api.client.post(
        "/api/v1/subscriptions/upgrade", json={"planCode": NUL}, headers=headers
    )
    assert upgrade.status_code == 400
    assert upgrade.json()["errors"][0] == {
        "code": "INVALID_INPUT",
        "field": "planCode",
        "message": "planCode contains a NUL character, which cannot be stored",
    }
    invoices = await api.client.get(
        "/api/v1/subscriptions/invoices", params={"after": NUL}, headers=headers
    )
    assert invoices.status_code == 400 and invoices.json()["errors"][0]["field"] == "after"
    status = await api.client.get("/api/v1/subscriptions/status/a%00b", headers=headers)
    assert status.status_code == 400 and status.json()["errors"][0]["field"] == "userId"
