"""The money operations over GraphQL on a live server: an admin defines a coupon and a
code, a customer previews and redeems it, support refunds and adjusts credit, and the
customer pauses and resumes."""

from __future__ import annotations

from datetime import timedelta

from services.platform.auth import Role

ADMIN = (Role.ADMIN,)
SUBSCRIBE = """mutation($input: SubscribeInput!) { subscribe(input: $input) {
  subscription { status discount { couponCode percentOff cyclesLeft endsAt } }
  payment { id amountCents status } errors { code field } } }"""


async def _admin(api, query: str, variables: dict | None = None) -> dict:  # type: ignore[no-untyped-def]
    body = await api.gql(query, variables, user="root", roles=ADMIN)
    assert "errors" not in body, body
    return body["data"]


async def test_coupons_refunds_credit_and_pauses_over_graphql(api):
    made = await _admin(
        api,
        'mutation { createCoupon(input: {code: "SPRING", name: "Spring", percentOff: 20, '
        "duration: REPEATING, durationInCycles: 3}) { coupon { code timesRedeemed } errors { code } } "
        'createPromotionCode(input: {couponCode: "SPRING", code: "spring20", maxRedemptions: 5}) '
        "{ promotionCode { code couponCode } errors { code } } }",
    )
    assert made["createCoupon"] == {"coupon": {"code": "SPRING", "timesRedeemed": 0}, "errors": []}
    assert made["createPromotionCode"]["promotionCode"] == {
        "code": "SPRING20",
        "couponCode": "SPRING",
    }
    bad = await _admin(
        api,
        'mutation { createCoupon(input: {code: "BAD", name: "Bad", percentOff: 120, '
        "duration: ONCE}) { coupon { code } errors { code field } } }",
    )
    assert bad["createCoupon"] == {
        "coupon": None,
        "errors": [{"code": "INVALID_INPUT", "field": "percentOff"}],
    }
    preview = await api.gql(
        '{ previewSubscribe(planCode: "premium", promotionCode: "spring20") '
        "{ trialDays amountDueNowCents firstChargeCents lines { kind amountCents } } }",
        user="gus",
    )
    assert preview["data"]["previewSubscribe"] == {
        "trialDays": 14,
        "amountDueNowCents": 0,
        "firstChargeCents": 799,
        "lines": [
            {"kind": "SUBSCRIPTION", "amountCents": 999},
            {"kind": "DISCOUNT", "amountCents": -200},
        ],
    }
    subscribed = await api.gql(
        SUBSCRIBE,
        {
            "input": {
                "planCode": "premium",
                "paymentMethodId": "pm_card_visa",
                "promotionCode": "SPRING20",
            }
        },
        user="gus",
    )
    result = subscribed["data"]["subscribe"]
    assert result["errors"] == []
    discount = result["subscription"]["discount"]
    assert (discount["couponCode"], discount["percentOff"], discount["cyclesLeft"]) == (
        "SPRING",
        20,
        3,
    )
    assert discount["endsAt"] is not None
    wrong = await api.gql(
        'mutation { applyPromotionCode(input: {code: "NOPE"}) { subscription { id } errors { code } } }',
        user="gus",
    )
    assert wrong["data"]["applyPromotionCode"]["errors"] == [{"code": "PROMOTION_CODE_INVALID"}]

    credited = await _admin(
        api,
        'mutation { adjustCredit(input: {userId: "gus", amountCents: 500, currency: "USD", '
        'reason: "sorry"}) { entry { amountCents balanceAfterCents kind } errors { code } } }',
    )
    assert credited["adjustCredit"]["entry"] == {
        "amountCents": 500,
        "balanceAfterCents": 500,
        "kind": "ADJUSTMENT",
    }
    mine = await api.gql(
        "{ me { creditBalanceCents creditCurrency } creditLedger(first: 5) { nodes { amountCents kind } "
        "pageInfo { hasNextPage } } }",
        user="gus",
    )
    assert mine["data"]["me"] == {"creditBalanceCents": 500, "creditCurrency": "USD"}
    assert mine["data"]["creditLedger"]["nodes"] == [{"amountCents": 500, "kind": "ADJUSTMENT"}]
    upcoming = await api.gql(
        "{ upcomingInvoice { totalCents lines { kind amountCents } } }", user="gus"
    )
    kinds = [line["kind"] for line in upcoming["data"]["upcomingInvoice"]["lines"]]
    assert kinds == ["SUBSCRIPTION", "DISCOUNT", "CREDIT"]
    assert upcoming["data"]["upcomingInvoice"]["totalCents"] == 299  # 999 - 200 - 500

    # Another customer pays now; support refunds part of it.
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "ad-free", "paymentMethodId": "pm_card_visa"}}, user="hal"
    )
    await api.gql(
        "mutation { cancelSubscription(input: {atPeriodEnd: false}) { errors { code } } }",
        user="hal",
    )
    paid = await api.gql(SUBSCRIBE, {"input": {"planCode": "ad-free"}}, user="hal")
    payment = paid["data"]["subscribe"]["payment"]
    assert payment["status"] == "SUCCESS" and payment["id"]
    listed = await _admin(
        api, '{ userPayments(userId: "hal") { id purpose amountCents amountRefundedCents } }'
    )
    assert {p["id"] for p in listed["userPayments"]} >= {payment["id"]}
    refunded = await _admin(
        api,
        "mutation($p: String!) { refundPayment(input: {paymentId: $p, amountCents: 100, "
        'reason: "late delivery"}) { refund { amountCents status creditNote { number amountCents } } '
        "errors { code } } }",
        {"p": payment["id"]},
    )
    refund = refunded["refundPayment"]["refund"]
    assert refund["status"] == "SUCCEEDED" and refund["creditNote"]["amountCents"] == 100
    assert refund["creditNote"]["number"].startswith("CN-")
    too_much = await _admin(
        api,
        "mutation($p: String!) { refundPayment(input: {paymentId: $p, amountCents: 100000, "
        'reason: "x"}) { refund { id } errors { code } } }',
        {"p": payment["id"]},
    )
    assert too_much["refundPayment"]["errors"] == [{"code": "REFUND_EXCEEDS_PAYMENT"}]
    invoices = await api.gql(
        "{ invoices(first: 5) { nodes { totalCents amountRefundedCents } } }", user="hal"
    )
    assert {"totalCents": 499, "amountRefundedCents": 100} in invoices["data"]["invoices"]["nodes"]

    paused = await api.gql(
        'mutation { pauseSubscription(input: {resumesAt: "2099-01-01T00:00:00Z"}) '
        "{ subscription { status } errors { code field } } }",
        user="hal",
    )
    assert paused["data"]["pauseSubscription"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "resumesAt"}
    ]
    as_user = await api.gql(
        'mutation { adjustCredit(input: {userId: "hal", amountCents: 5, currency: "USD", reason: "x"}) '
        "{ errors { code } } }",
        user="hal",
    )
    assert as_user["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_pause_and_resume_over_graphql(api, clock):
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "ad-free", "paymentMethodId": "pm_card_visa"}}, user="ivy"
    )
    await api.gql(
        "mutation { cancelSubscription(input: {atPeriodEnd: false}) { errors { code } } }",
        user="ivy",
    )
    await api.gql(SUBSCRIBE, {"input": {"planCode": "ad-free"}}, user="ivy")
    until = (clock.now().replace(microsecond=0) + timedelta(days=20)).isoformat()
    paused = await api.gql(
        "mutation($at: DateTime!) { pauseSubscription(input: {resumesAt: $at}) "
        "{ subscription { status resumesAt entitlements { tier } } errors { code } } }",
        {"at": until},
        user="ivy",
    )
    sub = paused["data"]["pauseSubscription"]["subscription"]
    assert sub["status"] == "PAUSED" and sub["entitlements"]["tier"] == "free"
    resumed = await api.gql(
        "mutation { resumeSubscription { subscription { status } errors { code } } }", user="ivy"
    )
    assert resumed["data"]["resumeSubscription"]["subscription"]["status"] == "ACTIVE"


async def test_another_users_invoices_are_for_admins_only(api):
    query = '{ invoices(userId: "someone-else") { nodes { number } } }'
    refused = await api.gql(query, user="kit")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    admin = await api.gql(query, user="root", roles=ADMIN)
    assert admin["data"]["invoices"]["nodes"] == []


async def test_another_users_ledger_is_for_admins_only(api):
    query = '{ creditLedger(userId: "someone-else") { nodes { amountCents } } }'
    refused = await api.gql(query, user="jan")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    own = await api.gql('{ creditLedger(userId: "jan") { nodes { amountCents } } }', user="jan")
    assert own["data"]["creditLedger"]["nodes"] == []
    admin = await api.gql(query, user="root", roles=ADMIN)
    assert admin["data"]["creditLedger"]["nodes"] == []
