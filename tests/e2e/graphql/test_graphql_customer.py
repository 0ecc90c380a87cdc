"""A customer's journey over GraphQL on a live server: every query and mutation they use."""

from __future__ import annotations

from datetime import timedelta

from services.platform.auth import Role

SUBSCRIPTION_FIELDS = """
    id userId status paymentConfirmation currentPeriodStart currentPeriodEnd trialEnd
    cancelAtPeriodEnd cancelledAt cancelReason activatedAt graceExpiresAt pricePaidCents
    currency statusUpdatedAt nextChargeAt
    plan { code priceCents }
    pendingPlan { code }
    nextChargePlan { code }
    entitlements { tier features }
    fulfillment { channel storeId address { city country } }
"""
SUBSCRIBE = f"""
mutation($input: SubscribeInput!) {{
  subscribe(input: $input) {{
    subscription {{ {SUBSCRIPTION_FIELDS} }}
    payment {{ status outcome amountCents currency invoiceNumber clientSecret processorPaymentId }}
    errors {{ code field message }}
  }}
}}"""
CANCEL = """
mutation($input: CancelSubscriptionInput) {
  cancelSubscription(input: $input) {
    subscription { status cancelAtPeriodEnd entitlements { tier } }
    errors { code field message }
  }
}"""


async def test_plans_are_public(api):
    body = await api.gql(
        "{ plans { code name priceCents currency interval trialDays entitlements graceEntitlements tierRank archived kind } }"
    )
    codes = [p["code"] for p in body["data"]["plans"]]
    assert codes == ["free", "ad-free", "premium"]
    premium = await api.gql('{ plan(code: "premium") { priceCents trialDays } }')
    assert premium["data"]["plan"] == {"priceCents": 999, "trialDays": 14}
    assert (await api.gql('{ plan(code: "nope") { code } }'))["data"]["plan"] is None


async def test_trial_subscription_with_pickup_fulfillment(api):
    variables = {
        "input": {
            "planCode": "premium",
            "paymentMethodId": "pm_card_visa",
            "fulfillment": {"channel": "PICKUP", "storeId": "lagos-01"},
        }
    }
    body = await api.gql(SUBSCRIBE, variables, user="ada")
    payload = body["data"]["subscribe"]
    assert payload["errors"] == []
    sub = payload["subscription"]
    assert sub["status"] == "TRIALING" and sub["paymentConfirmation"] == "NOT_REQUIRED"
    assert sub["entitlements"]["tier"] == "premium"
    assert sub["fulfillment"] == {"channel": "PICKUP", "storeId": "lagos-01", "address": None}
    assert sub["nextChargeAt"] == sub["trialEnd"] and sub["nextChargePlan"]["code"] == "premium"

    mine = await api.gql(
        f"{{ mySubscription {{ {SUBSCRIPTION_FIELDS} }} myEntitlements {{ userId tier features status }} "
        "me { userId roles entitlements { tier } } paymentMethods { id brand last4 expMonth expYear isDefault platform } }",
        user="ada",
    )
    data = mine["data"]
    assert data["mySubscription"]["id"] == sub["id"]
    assert data["myEntitlements"]["features"] == [
        "basic_content",
        "ad_free",
        "premium_content",
        "ai_coach",
    ]
    assert data["me"] == {"userId": "ada", "roles": [], "entitlements": {"tier": "premium"}}
    assert [(m["brand"], m["last4"], m["isDefault"]) for m in data["paymentMethods"]] == [
        ("visa", "4242", True)
    ]


async def test_upgrade_downgrade_cancel_resume(api, clock):
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "ad-free", "paymentMethodId": "pm_card_visa"}}, user="bea"
    )
    upgraded = await api.gql(
        'mutation { upgrade(input: {planCode: "premium", idempotencyKey: "up-1"}) '
        "{ subscription { plan { code } status } payment { amountCents } errors { code } } }",
        user="bea",
    )
    assert upgraded["data"]["upgrade"]["subscription"]["plan"]["code"] == "premium"
    assert upgraded["data"]["upgrade"]["payment"] is None  # trials switch without a charge

    downgraded = await api.gql(
        'mutation { downgrade(input: {planCode: "ad-free"}) '
        "{ subscription { plan { code } pendingPlan { code } } errors { code } } }",
        user="bea",
    )
    assert downgraded["data"]["downgrade"]["subscription"]["pendingPlan"]["code"] == "ad-free"

    cancelled = await api.gql(CANCEL, {"input": {"reason": "moving"}}, user="bea")
    result = cancelled["data"]["cancelSubscription"]
    assert result["subscription"]["status"] == "CANCELED"
    assert result["subscription"]["cancelAtPeriodEnd"] is True

    resumed = await api.gql(
        "mutation { resumeSubscription { subscription { status } errors { code } } }", user="bea"
    )
    assert resumed["data"]["resumeSubscription"]["subscription"]["status"] == "TRIALING"

    clock.advance(timedelta(days=1))
    now_cancel = await api.gql(CANCEL, {"input": {"atPeriodEnd": False}}, user="bea")
    assert (
        now_cancel["data"]["cancelSubscription"]["subscription"]["entitlements"]["tier"] == "free"
    )


async def test_invoices_paginate_with_cursors(api, clock):
    for _ in range(3):
        body = await api.gql(
            SUBSCRIBE,
            {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}},
            user="cal",
        )
        assert body["data"]["subscribe"]["errors"] == []
        clock.advance(timedelta(minutes=1))
        await api.gql(CANCEL, {"input": {"atPeriodEnd": False}}, user="cal")
        clock.advance(timedelta(minutes=1))
    query = """query($after: String) { invoices(first: 1, after: $after) {
        edges { cursor node { number status totalCents lines { kind amountCents } } }
        nodes { number } pageInfo { hasNextPage endCursor } } }"""
    first = (await api.gql(query, user="cal"))["data"]["invoices"]
    assert first["pageInfo"]["hasNextPage"] is True
    second = (await api.gql(query, {"after": first["pageInfo"]["endCursor"]}, user="cal"))["data"][
        "invoices"
    ]
    assert second["pageInfo"]["hasNextPage"] is False
    numbers = [first["nodes"][0]["number"], second["nodes"][0]["number"]]
    assert numbers == ["INV-00000002", "INV-00000001"]  # newest first, no gaps
    assert first["edges"][0]["node"]["lines"] == [{"kind": "SUBSCRIPTION", "amountCents": 999}]


async def test_declined_card_is_a_typed_payload_error(api):
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="dee"
    )
    await api.gql(CANCEL, {"input": {"atPeriodEnd": False}}, user="dee")
    body = await api.gql(
        SUBSCRIBE,
        {"input": {"planCode": "premium", "paymentMethodId": "pm_card_chargeDeclined"}},
        user="dee",
    )
    payload = body["data"]["subscribe"]
    assert payload["subscription"]["status"] == "FAILED"
    assert payload["payment"]["status"] == "FAILED"
    assert payload["errors"][0]["code"] == "PAYMENT_DECLINED"


async def test_history_is_visible_to_its_owner_only(api):
    body = await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="eve"
    )
    sub_id = body["data"]["subscribe"]["subscription"]["id"]
    query = "query($id: String!) { subscriptionHistory(subscriptionId: $id) { fromStatus toStatus reason actor occurredAt note } }"
    own = await api.gql(query, {"id": sub_id}, user="eve")
    assert own["data"]["subscriptionHistory"][0]["toStatus"] == "TRIALING"
    other = await api.gql(query, {"id": sub_id}, user="mallory")
    assert other["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    admin = await api.gql(query, {"id": sub_id}, user="root", roles=(Role.ADMIN,))
    assert admin["data"]["subscriptionHistory"][0]["actor"] == "eve"
    malformed = await api.gql(query, {"id": "not-a-uuid"}, user="eve")
    assert malformed["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_payment_methods_add_default_detach(api):
    add = """mutation($input: AddPaymentMethodInput!) { addPaymentMethod(input: $input) {
        paymentMethod { id brand last4 isDefault holderName } errors { code field } } }"""
    first = await api.gql(
        add, {"input": {"paymentMethodId": "pm_card_visa", "holderName": "Fay K"}}, user="fay"
    )
    visa = first["data"]["addPaymentMethod"]["paymentMethod"]
    assert visa["isDefault"] is True and visa["holderName"] == "Fay K"
    second = await api.gql(add, {"input": {"paymentMethodId": "pm_card_mastercard"}}, user="fay")
    master = second["data"]["addPaymentMethod"]["paymentMethod"]
    assert master["isDefault"] is False and master["brand"] == "mastercard"
    made_default = await api.gql(
        "mutation($id: String!) { setDefaultPaymentMethod(input: {paymentMethodId: $id}) { paymentMethod { isDefault } errors { code } } }",
        {"id": master["id"]},
        user="fay",
    )
    assert made_default["data"]["setDefaultPaymentMethod"]["paymentMethod"]["isDefault"] is True
    detach = "mutation($id: String!) { detachPaymentMethod(input: {paymentMethodId: $id}) { paymentMethod { id } errors { code } } }"
    assert (await api.gql(detach, {"id": visa["id"]}, user="fay"))["data"]["detachPaymentMethod"][
        "errors"
    ] == []
    listed = await api.gql("{ paymentMethods { id isDefault } }", user="fay")
    assert listed["data"]["paymentMethods"] == [{"id": master["id"], "isDefault": True}]
    stolen = await api.gql(detach, {"id": master["id"]}, user="mallory")
    assert stolen["data"]["detachPaymentMethod"]["errors"][0]["code"] == "PAYMENT_METHOD_NOT_FOUND"
    unknown = await api.gql(add, {"input": {"paymentMethodId": "pm_card_bogus"}}, user="fay")
    assert unknown["data"]["addPaymentMethod"]["errors"][0]["code"] == "PAYMENT_METHOD_NOT_FOUND"


async def test_preview_shows_the_upgrade_charge_before_committing(api, clock):
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="gil"
    )
    await api.gql(CANCEL, {"input": {"atPeriodEnd": False}}, user="gil")
    clock.advance(timedelta(minutes=1))
    await api.gql(SUBSCRIBE, {"input": {"planCode": "ad-free"}}, user="gil")
    clock.advance(timedelta(days=15))
    query = """query($code: String!) { previewPlanChange(planCode: $code) {
        planCode isUpgrade amountDueCents currency effectiveAt lines { kind amountCents } } }"""
    preview = (await api.gql(query, {"code": "premium"}, user="gil"))["data"]["previewPlanChange"]
    assert preview["isUpgrade"] is True and preview["currency"] == "USD"
    assert sum(line["amountCents"] for line in preview["lines"]) == preview["amountDueCents"] > 0
    upgraded = await api.gql(
        'mutation { upgrade(input: {planCode: "premium"}) { payment { amountCents } errors { code } } }',
        user="gil",
    )
    assert upgraded["data"]["upgrade"]["payment"]["amountCents"] == preview["amountDueCents"]
    down = (await api.gql(query, {"code": "ad-free"}, user="gil"))["data"]["previewPlanChange"]
    assert down["isUpgrade"] is False and down["amountDueCents"] == 0 and down["lines"] == []
    nothing = await api.gql(query, {"code": "premium"}, user="nobody")
    assert nothing["errors"][0]["extensions"]["code"] == "NO_SUBSCRIPTION"


async def test_update_fulfillment_over_graphql(api):
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="hal"
    )
    mutation = """mutation($input: UpdateFulfillmentInput!) { updateFulfillment(input: $input) {
        subscription { fulfillment { channel storeId address { city country } } } errors { code field } } }"""
    shipping = {
        "channel": "SHIPPING",
        "address": {"line1": "9 Ring Rd", "city": "Accra", "postalCode": "00233", "country": "GH"},
    }
    ok = await api.gql(mutation, {"input": {"fulfillment": shipping}}, user="hal")
    assert ok["data"]["updateFulfillment"]["subscription"]["fulfillment"]["address"] == {
        "city": "Accra",
        "country": "GH",
    }
    bad = await api.gql(mutation, {"input": {"fulfillment": {"channel": "PICKUP"}}}, user="hal")
    assert bad["data"]["updateFulfillment"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "fulfillment"}
    ]
    none = await api.gql(
        mutation, {"input": {"fulfillment": {"channel": "DIGITAL"}}}, user="nobody"
    )
    assert none["data"]["updateFulfillment"]["errors"][0]["code"] == "NO_SUBSCRIPTION"
