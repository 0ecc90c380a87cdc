"""The console's API on the live server: "sign in as" works whatever the test clock
says (tokens are dated and checked at real time), and the metrics are as of the
service's clock by default."""

from __future__ import annotations

from datetime import timedelta

SIGN_IN = """mutation($u: String!) { developmentToken(input: {userId: $u, admin: true}) {
  token errors { code message } } }"""


async def test_sign_in_as_after_the_test_clock_moved(api):
    api.clock.advance(timedelta(days=90))  # the service's time, months ahead of real time
    answer = await api.gql(SIGN_IN, {"u": "ops"})
    token = answer["data"]["developmentToken"]["token"]
    assert token and answer["data"]["developmentToken"]["errors"] == []
    me = await api.client.post(
        "/graphql",
        json={"query": "{ me { userId } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert me.json() == {"data": {"me": {"userId": "ops"}}}
    figures = await api.client.post(
        "/graphql",
        json={"query": "{ metrics { to mrrCents } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert figures.json()["data"]["metrics"]["to"].startswith(api.clock.now().date().isoformat())


async def test_simulations_over_graphql(api):
    from tests.e2e.graphql.test_graphql_customer import SUBSCRIBE

    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="sy"
    )
    mine = await api.gql(
        '{ simulateInvoices(userId: "sy", cycles: 2) { dueAt totalCents currency'
        " lines { kind amountCents } } }",
        user="sy",
    )
    assert [i["totalCents"] for i in mine["data"]["simulateInvoices"]] == [999, 999]
    other = await api.gql('{ simulateInvoices(userId: "sy", cycles: 2) { dueAt } }', user="zz")
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    new = await api.gql(
        '{ simulateSubscribe(planCode: "ad-free", cycles: 3) { totalCents } }', user="zz"
    )
    assert [i["totalCents"] for i in new["data"]["simulateSubscribe"]] == [499, 499, 499]


async def test_support_finds_subscriptions_by_the_start_of_a_user_id(api):
    from services.platform.auth import Role
    from tests.e2e.graphql.test_graphql_customer import SUBSCRIBE

    for user in ("alice", "alina", "bob", "al_ex"):
        await api.gql(
            SUBSCRIBE,
            {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}},
            user=user,
        )
    query = """query($p: String) { adminSubscriptions(filter: {userIdPrefix: $p}) {
      nodes { userId } } }"""

    async def found(prefix: str) -> set[str]:
        answer = await api.gql(query, {"p": prefix}, user="root", roles=(Role.ADMIN,))
        return {node["userId"] for node in answer["data"]["adminSubscriptions"]["nodes"]}

    assert await found("ali") == {"alice", "alina"}
    assert await found("al_") == {"al_ex"}  # "_" is a character here, not a wildcard
