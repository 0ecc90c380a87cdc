"""Usage and quotas over GraphQL on the live server: admins define meters and quotas,
a service consumes and records usage, users read their own."""

from __future__ import annotations

import asyncio

from services.platform.auth import Role
from tests.e2e.graphql.test_graphql_customer import SUBSCRIBE

ADMIN, SERVICE = (Role.ADMIN,), (Role.SERVICE,)
CONSUME = """mutation($e: String!) {
  consumeQuota(input: {userId: "una", meterKey: "ai.calls", eventId: $e}) {
    allowed remaining resetsAt reason } }"""


async def define_ai_calls(api) -> None:  # type: ignore[no-untyped-def]
    created = await api.gql(
        'mutation { createMeter(input: {key: "ai.calls", name: "AI calls", unit: "call", '
        'aggregation: COUNT, feature: "ai_coach"}) { meter { key feature aggregation } errors { code } } }',
        user="root",
        roles=ADMIN,
    )
    assert created["data"]["createMeter"] == {
        "meter": {"key": "ai.calls", "feature": "ai_coach", "aggregation": "COUNT"},
        "errors": [],
    }
    quota = await api.gql(
        'mutation { setPlanQuota(input: {planCode: "premium", meterKey: "ai.calls", '
        "includedUnits: 3, hardLimit: true}) { quota { meterKey includedUnits hardLimit } errors { code } } }",
        user="root",
        roles=ADMIN,
    )
    assert quota["data"]["setPlanQuota"]["quota"] == {
        "meterKey": "ai.calls",
        "includedUnits": 3,
        "hardLimit": True,
    }


async def test_a_service_consumes_a_users_quota_and_the_user_sees_it(api):
    await define_ai_calls(api)
    plans = await api.gql('{ plan(code: "premium") { quotas { meterKey includedUnits } } }')
    assert plans["data"]["plan"]["quotas"] == [{"meterKey": "ai.calls", "includedUnits": 3}]
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="una"
    )
    answers = await asyncio.gather(
        *(api.gql(CONSUME, {"e": f"e{n}"}, user="coach-service", roles=SERVICE) for n in range(8))
    )
    decisions = [a["data"]["consumeQuota"] for a in answers]
    assert sum(d["allowed"] for d in decisions) == 3
    assert {d["reason"] for d in decisions if not d["allowed"]} == {"QUOTA_EXHAUSTED"}
    mine = await api.gql("{ myUsage { meterKey used remaining includedUnits } }", user="una")
    assert mine["data"]["myUsage"] == [
        {"meterKey": "ai.calls", "used": 3, "remaining": 0, "includedUnits": 3}
    ]
    entitled = await api.gql(
        "{ myEntitlements { tier quotas { meterKey remaining } } }", user="una"
    )
    assert entitled["data"]["myEntitlements"] == {
        "tier": "premium",
        "quotas": [{"meterKey": "ai.calls", "remaining": 0}],
    }
    as_service = await api.gql(
        '{ usage(userId: "una") { used } }', user="coach-service", roles=SERVICE
    )
    assert as_service["data"]["usage"] == [{"used": 3}]


async def test_usage_operations_check_roles_and_input(api):
    await define_ai_calls(api)
    as_user = await api.gql(CONSUME, {"e": "x"}, user="una")
    assert as_user["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    unknown = await api.gql(
        'mutation { consumeQuota(input: {userId: "una", meterKey: "nope", eventId: "u1"}) { allowed } }',
        user="coach-service",
        roles=SERVICE,
    )
    assert unknown["errors"][0]["extensions"]["code"] == "METER_NOT_FOUND"
    negative = await api.gql(
        'mutation { recordUsage(input: {userId: "una", meterKey: "ai.calls", quantity: -1, eventId: "n1"}) '
        "{ decision { allowed } errors { code field } } }",
        user="coach-service",
        roles=SERVICE,
    )
    assert negative["data"]["recordUsage"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "quantity"}
    ]
    not_admin = await api.gql(
        'mutation { createMeter(input: {key: "x", name: "X", unit: "u", aggregation: SUM}) { errors { code } } }',
        user="una",
    )
    assert not_admin["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_upcoming_invoice_shows_the_renewal_and_the_overage_so_far(api):
    await define_ai_calls(api)
    soft = await api.gql(
        'mutation { setPlanQuota(input: {planCode: "premium", meterKey: "ai.calls", '
        "includedUnits: 1, overageUnitPriceCents: 30, hardLimit: false}) { errors { code } } }",
        user="root",
        roles=ADMIN,
    )
    assert soft["data"]["setPlanQuota"]["errors"] == []
    nothing = await api.gql("{ upcomingInvoice { totalCents } }", user="una")
    assert nothing["data"]["upcomingInvoice"] is None  # no subscription: nothing renews
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="una"
    )
    for n in range(4):
        await api.gql(CONSUME, {"e": f"up{n}"}, user="coach-service", roles=SERVICE)
    preview = await api.gql(
        "{ upcomingInvoice { currency totalCents lines { kind amountCents } } }", user="una"
    )
    assert preview["data"]["upcomingInvoice"] == {
        "currency": "USD",
        "totalCents": 999 + 90,
        "lines": [
            {"kind": "SUBSCRIPTION", "amountCents": 999},
            {"kind": "USAGE", "amountCents": 90},
        ],
    }


async def test_remaining_units_are_pushed_live_and_bursts_coalesced(api, live_server):
    from gql import Client, gql
    from gql.transport.websockets import WebsocketsTransport

    await define_ai_calls(api)
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="una"
    )
    transport = WebsocketsTransport(
        url=live_server.url.replace("http://", "ws://") + "/graphql",
        init_payload={"Authorization": f"Bearer {api.token('una')}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    pushed: list[dict] = []
    async with Client(transport=transport) as session:

        async def listen() -> None:
            query = gql('subscription { quotaChanged(meterKey: "ai.calls") { used remaining } }')
            async for result in session.subscribe(query):
                pushed.append(result["quotaChanged"])

        listening = asyncio.create_task(listen())
        hub = live_server.app.state.hub
        for _ in range(200):
            if hub.listener_count:
                break
            await asyncio.sleep(0.02)
        await asyncio.gather(
            *(
                api.gql(CONSUME, {"e": f"l{n}"}, user="coach-service", roles=SERVICE)
                for n in range(3)
            )
        )
        for _ in range(100):
            if pushed and pushed[-1] == {"used": 3, "remaining": 0}:
                break
            await asyncio.sleep(0.05)
        listening.cancel()
    assert pushed[-1] == {"used": 3, "remaining": 0}


async def test_a_user_buys_a_quota_pack_and_its_units_extend_the_quota(api):
    await define_ai_calls(api)
    pack_plan = await api.gql(
        'mutation { createPlan(input: {code: "calls-10", name: "10 AI calls", priceCents: 300, '
        'currency: "USD", interval: MONTH, tierRank: 50, kind: QUOTA, validDays: 30}) '
        "{ plan { code kind validDays } errors { code } } }",
        user="root",
        roles=ADMIN,
    )
    assert pack_plan["data"]["createPlan"]["plan"] == {
        "code": "calls-10",
        "kind": "QUOTA",
        "validDays": 30,
    }
    await api.gql(
        'mutation { setPlanQuota(input: {planCode: "calls-10", meterKey: "ai.calls", '
        "includedUnits: 10}) { errors { code } } }",
        user="root",
        roles=ADMIN,
    )
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="una"
    )
    bought = await api.gql(
        'mutation { purchaseQuotaPack(input: {planCode: "calls-10", idempotencyKey: "k1"}) '
        "{ pack { planCode status units { meterKey units usedUnits } expiresAt } "
        "payment { amountCents status } errors { code } } }",
        user="una",
    )
    result = bought["data"]["purchaseQuotaPack"]
    assert result["errors"] == [] and result["payment"] == {"amountCents": 300, "status": "SUCCESS"}
    assert result["pack"]["status"] == "ACTIVE" and result["pack"]["expiresAt"]
    assert result["pack"]["units"] == [{"meterKey": "ai.calls", "units": 10, "usedUnits": 0}]
    answers = [
        await api.gql(CONSUME, {"e": f"p{n}"}, user="coach-service", roles=SERVICE)
        for n in range(14)
    ]
    assert sum(a["data"]["consumeQuota"]["allowed"] for a in answers) == 13  # 3 + 10
    mine = await api.gql(
        "{ myUsage { used packUnitsRemaining remaining } "
        "myQuotaPacks { status units { usedUnits } } "
        "invoices(first: 5) { edges { node { quotaPackId subscriptionId totalCents } } } }",
        user="una",
    )
    assert mine["data"]["myUsage"] == [{"used": 13, "packUnitsRemaining": 0, "remaining": 0}]
    assert mine["data"]["myQuotaPacks"] == [{"status": "ACTIVE", "units": [{"usedUnits": 10}]}]
    pack_invoices = [
        e["node"] for e in mine["data"]["invoices"]["edges"] if e["node"]["quotaPackId"]
    ]
    assert [(i["subscriptionId"], i["totalCents"]) for i in pack_invoices] == [(None, 300)]
    wrong = await api.gql(
        'mutation { purchaseQuotaPack(input: {planCode: "premium"}) { pack { id } errors { code } } }',
        user="una",
    )
    assert wrong["data"]["purchaseQuotaPack"] == {
        "pack": None,
        "errors": [{"code": "PLAN_NOT_PURCHASABLE"}],
    }
