"""Live status over websockets against the live server, with a real client library
(gql) speaking graphql-transport-ws, and raw websockets for the protocol's edges."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from gql import Client, GraphQLRequest, gql
from gql.transport.websockets import WebsocketsTransport

from services.app.relay import OutboxRelay
from services.messaging.live import LocalFeed
from services.messaging.publisher import InProcessBus
from services.platform.auth import Role
from tests.e2e.graphql.test_graphql_customer import SUBSCRIBE

OWN = gql(
    "subscription { subscriptionStatusChanged { userId status previousStatus planCode tier entitlements reason } }"
)
FIREHOSE = gql(
    "subscription($f: AdminEventFilter) { adminSubscriptionEvents(filter: $f) { userId status reason } }"
)


def ws_url(live_server) -> str:
    return live_server.url.replace("http://", "ws://") + "/graphql"


def client(live_server, token: str, key: str = "Authorization") -> Client:
    transport = WebsocketsTransport(
        url=ws_url(live_server),
        init_payload={key: f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    return Client(transport=transport)


def relay(deps, live_server) -> OutboxRelay:
    """The relay, pushing what it published to the live server's websocket clients."""
    return OutboxRelay(
        deps.session_factory, InProcessBus(), deps.clock, live=LocalFeed(live_server.app.state.hub)
    )


async def first(subscription, session, variables=None) -> dict:  # type: ignore[no-untyped-def]
    request = GraphQLRequest(subscription, variable_values=variables)
    async for result in session.subscribe(request):
        return result
    raise AssertionError("the subscription ended")


async def until_listening(live_server, count: int) -> None:
    hub = live_server.app.state.hub
    for _ in range(200):
        if hub.listener_count >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{hub.listener_count} listeners, expected {count}")


async def test_a_user_receives_their_own_changes_and_never_anyone_elses(api, deps, live_server):
    async with client(live_server, api.token("ann")) as session:
        waiting = asyncio.create_task(first(OWN, session))
        await until_listening(live_server, 1)
        await api.gql(
            SUBSCRIBE,
            {"input": {"planCode": "ad-free", "paymentMethodId": "pm_card_visa"}},
            user="bob",
        )
        await relay(deps, live_server).drain()
        await api.gql(
            SUBSCRIBE,
            {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}},
            user="ann",
        )
        await relay(deps, live_server).drain()
        event = (await asyncio.wait_for(waiting, 10))["subscriptionStatusChanged"]
    assert event == {
        "userId": "ann",
        "status": "TRIALING",
        "previousStatus": None,
        "planCode": "premium",
        "tier": "premium",
        "entitlements": ["basic_content", "ad_free", "premium_content", "ai_coach"],
        "reason": "trial_started",
    }


async def test_admins_see_every_change_and_can_filter(api, deps, live_server):
    admin = api.token("ops", Role.ADMIN)
    async with (
        client(live_server, admin, key="authorization") as everything,
        client(live_server, admin) as filtered,
    ):
        all_changes = asyncio.create_task(first(FIREHOSE, everything))
        only_cal = asyncio.create_task(first(FIREHOSE, filtered, {"f": {"userId": "cal"}}))
        await until_listening(live_server, 2)
        await api.gql(
            SUBSCRIBE,
            {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}},
            user="bea",
        )
        await api.gql(
            SUBSCRIBE,
            {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}},
            user="cal",
        )
        await relay(deps, live_server).drain()
        assert (await asyncio.wait_for(all_changes, 10))["adminSubscriptionEvents"][
            "userId"
        ] == "bea"
        assert (await asyncio.wait_for(only_cal, 10))["adminSubscriptionEvents"]["userId"] == "cal"


async def test_non_admins_cannot_open_the_firehose(api, live_server):
    async with client(live_server, api.token("eve")) as session:
        with pytest.raises(Exception, match="admin role"):
            await first(FIREHOSE, session)


async def _closed_with(live_server, messages: list[dict], wait: float = 5) -> int:
    async with websockets.connect(ws_url(live_server), subprotocols=["graphql-transport-ws"]) as ws:
        for message in messages:
            await ws.send(json.dumps(message))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), wait)
    return closed.value.rcvd.code if closed.value.rcvd else -1


async def test_bad_or_missing_tokens_are_refused_at_connection_init(api, live_server):
    expired = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    for payload in ({"Authorization": f"Bearer {expired}"}, {}, {"Authorization": "Basic abc"}):
        code = await _closed_with(live_server, [{"type": "connection_init", "payload": payload}])
        assert code == 4403, payload


async def test_a_connection_that_never_initialises_is_closed(live_server):
    assert await _closed_with(live_server, []) == 4408


async def test_a_subscription_beyond_the_limit_is_refused(api, live_server):
    async with websockets.connect(ws_url(live_server), subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"Authorization": f"Bearer {api.token('gus')}"},
                }
            )
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        query = "subscription { subscriptionStatusChanged { status } }"
        for n in range(6):  # the test server allows 5
            await ws.send(
                json.dumps({"id": str(n), "type": "subscribe", "payload": {"query": query}})
            )
        refusal = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert refusal["type"] == "error" and refusal["id"] == "5"
    assert refusal["payload"][0]["message"] == "Subscription limit reached"


async def test_a_thousand_connect_disconnect_cycles_leave_nothing_behind(api, live_server):
    loop = live_server.server_loop()
    hub = live_server.app.state.hub
    token = api.token("hal")
    query = "subscription { subscriptionStatusChanged { status } }"

    async def cycle(n: int) -> None:
        async with websockets.connect(
            ws_url(live_server), subprotocols=["graphql-transport-ws"]
        ) as ws:
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                )
            )
            await ws.recv()
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
            # vanish without "complete": the server must clean up on its own

    await cycle(0)
    await asyncio.sleep(0.5)
    baseline = len(asyncio.all_tasks(loop))
    for batch in range(20):
        await asyncio.gather(*(cycle(batch * 50 + n) for n in range(50)))
    for _ in range(100):
        if hub.listener_count == 0 and len(asyncio.all_tasks(loop)) <= baseline:
            break
        await asyncio.sleep(0.05)
    assert hub.listener_count == 0
    assert len(asyncio.all_tasks(loop)) <= baseline


async def test_the_legacy_graphql_ws_protocol_works_too(api, deps, live_server):
    transport = WebsocketsTransport(
        url=ws_url(live_server),
        init_payload={"AUTHORIZATION": f"Bearer {api.token('lee')}"},
        subprotocols=[WebsocketsTransport.APOLLO_SUBPROTOCOL],
    )
    async with Client(transport=transport) as session:
        waiting = asyncio.create_task(first(OWN, session))
        await until_listening(live_server, 1)
        await api.gql(
            SUBSCRIBE,
            {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}},
            user="lee",
        )
        await relay(deps, live_server).drain()
        event = (await asyncio.wait_for(waiting, 10))["subscriptionStatusChanged"]
    assert (event["userId"], event["status"]) == ("lee", "TRIALING")


RESUMABLE = gql(
    "subscription($after: String) { subscriptionStatusChanged(after: $after) {"
    " status reason cursor } }"
)


async def _take(session, count: int, variables: dict) -> list[dict]:  # type: ignore[no-untyped-def]
    got = []
    async for result in session.subscribe(GraphQLRequest(RESUMABLE, variable_values=variables)):
        got.append(result["subscriptionStatusChanged"])
        if len(got) == count:
            return got
    raise AssertionError("the subscription ended")


async def test_a_client_that_reconnects_with_its_cursor_misses_nothing_and_gets_nothing_twice(
    api, deps, live_server
):
    async def act(query: str) -> None:
        answer = await api.gql(query, user="rex")
        assert "errors" not in answer, answer

    token = api.token("rex")
    async with client(live_server, token) as session:
        waiting = asyncio.create_task(_take(session, 1, {}))
        await until_listening(live_server, 1)
        await api.gql(
            SUBSCRIBE,
            {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}},
            user="rex",
        )
        await relay(deps, live_server).drain()
        [started] = await asyncio.wait_for(waiting, 10)
    assert started["status"] == "TRIALING" and started["cursor"]
    # The socket is gone: three changes, the last not even pushed yet.
    await act("mutation { cancelSubscription { subscription { status } errors { code } } }")
    await act("mutation { resumeSubscription { subscription { status } errors { code } } }")
    await relay(deps, live_server).drain()
    await act(
        "mutation { cancelSubscription(input: {atPeriodEnd: false}) {"
        " subscription { status } errors { code } } }"
    )
    async with client(live_server, token) as session:
        waiting = asyncio.create_task(_take(session, 4, {"after": started["cursor"]}))
        await until_listening(live_server, 1)
        await asyncio.sleep(0.3)  # the missed ones are read and sent
        await relay(deps, live_server).drain()  # the last change's own push: a duplicate
        await api.gql(
            SUBSCRIBE,
            {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}},
            user="rex",
        )
        await relay(deps, live_server).drain()  # a new change, live
        got = await asyncio.wait_for(waiting, 10)
    assert [g["reason"] for g in got] == [
        "cancelled_at_period_end",
        "resumed",
        "cancelled_immediately",
        got[3]["reason"],
    ]
    assert got[3]["reason"] != "cancelled_immediately"  # not the duplicate: the new one
    assert len({g["cursor"] for g in got}) == 4
