"""Stripe webhooks on a live server: signatures, duplicates, order, unknown payments."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta

from services.platform.auth import Role
from tests.conftest import WEBHOOK_SECRET, scalar
from tests.e2e.graphql.test_graphql_customer import CANCEL, SUBSCRIBE

STATUS = '{ subscriptionStatus(userId: "%s") { status } }'


def signed(event: dict, secret: str = WEBHOOK_SECRET, at: int | None = None) -> tuple[bytes, str]:
    """Sign like Stripe: t=<unix>,v1=HMAC-SHA256(secret, "<t>.<body>")."""
    body = json.dumps(event).encode()
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={timestamp},v1={mac}"


def intent_event(kind: str, intent_id: str, created: int, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:12]}",
        "object": "event",
        "type": kind,
        "created": created,
        "data": {"object": {"id": intent_id, "object": "payment_intent", "metadata": {}}},
    }


async def post(api, event: dict, **sign) -> tuple[int, dict]:
    body, header = signed(event, **sign)
    response = await api.client.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": header}
    )
    return response.status_code, response.json()


async def status_of(api, user: str) -> str:
    body = await api.gql(STATUS % user, user="ops", roles=(Role.ADMIN,))
    return body["data"]["subscriptionStatus"]["status"]


async def test_a_succeeded_payment_activates_once_even_when_delivered_twice(api, deps):
    intent = await pending_intent(api, deps, "amy")
    event = intent_event("payment_intent.succeeded", intent, int(time.time()))
    assert await post(api, event) == (200, {"received": True, "outcome": "applied"})
    assert await status_of(api, "amy") == "ACTIVE"
    assert await post(api, event) == (200, {"received": True, "outcome": "duplicate"})
    activations = await scalar(
        deps, "SELECT count(*) FROM subscription_history WHERE user_id='amy' AND to_status='ACTIVE'"
    )
    assert activations == 1
    stored = await scalar(
        deps, "SELECT outcome FROM processed_messages WHERE message_id=:id", id=event["id"]
    )
    assert stored == "applied"


async def test_an_older_event_arriving_late_never_moves_state_backwards(api, deps):
    intent = await pending_intent(api, deps, "ben")
    now = int(time.time())
    succeeded = intent_event("payment_intent.succeeded", intent, now)
    failed_earlier = intent_event("payment_intent.payment_failed", intent, now - 60)
    assert (await post(api, succeeded))[1]["outcome"] == "applied"
    assert (await post(api, failed_earlier))[1]["outcome"] == "stale"
    assert await status_of(api, "ben") == "ACTIVE"


async def test_failed_then_later_events_in_order(api, deps):
    intent = await pending_intent(api, deps, "cal")
    now = int(time.time())
    assert (await post(api, intent_event("payment_intent.payment_failed", intent, now)))[1][
        "outcome"
    ] == "applied"
    assert await status_of(api, "cal") == "FAILED"
    status = await scalar(
        deps, "SELECT status FROM invoices WHERE user_id='cal' ORDER BY created_at DESC LIMIT 1"
    )
    assert status == "VOID"


async def test_forged_stale_and_malformed_webhooks_are_refused(api, deps):
    intent = await pending_intent(api, deps, "dee")
    event = intent_event("payment_intent.succeeded", intent, int(time.time()))
    assert (await post(api, event, secret="whsec_wrong"))[0] == 400
    assert (await post(api, event, at=int(time.time()) - 3600))[0] == 400
    missing = await api.client.post("/webhooks/stripe", content=json.dumps(event).encode())
    assert missing.status_code == 400
    body, header = signed(event)
    tampered = await api.client.post(
        "/webhooks/stripe",
        content=body.replace(b"succeeded", b"canceled"),
        headers={"Stripe-Signature": header},
    )
    assert tampered.status_code == 400
    garbage = b"not json"
    mac = hmac.new(
        WEBHOOK_SECRET.encode(), f"{int(time.time())}.".encode() + garbage, hashlib.sha256
    ).hexdigest()
    malformed = await api.client.post(
        "/webhooks/stripe",
        content=garbage,
        headers={"Stripe-Signature": f"t={int(time.time())},v1={mac}"},
    )
    assert malformed.status_code == 400
    assert await status_of(api, "dee") == "PENDING"
    assert await scalar(deps, "SELECT count(*) FROM processed_messages") == 0


async def test_unknown_payments_and_other_events_are_acknowledged_and_recorded(api, deps):
    unknown = intent_event("payment_intent.succeeded", "pi_nobody_knows", int(time.time()))
    assert (await post(api, unknown))[1]["outcome"] == "unknown_payment"
    other = {
        "id": "evt_other",
        "type": "customer.created",
        "created": int(time.time()),
        "data": {"object": {"object": "customer", "id": "cus_1"}},
    }
    assert (await post(api, other))[1]["outcome"] == "ignored"
    assert await scalar(deps, "SELECT count(*) FROM subscription_history") == 0


async def pending_intent(api, deps, user: str) -> str:
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user=user
    )
    await api.gql(CANCEL, {"input": {"atPeriodEnd": False}}, user=user)
    api.clock.advance(timedelta(minutes=1))
    body = await api.gql(
        SUBSCRIBE,
        {"input": {"planCode": "premium", "paymentMethodId": "pm_card_authenticationRequired"}},
        user=user,
    )
    assert body["data"]["subscribe"]["subscription"]["status"] == "PENDING"
    return str(body["data"]["subscribe"]["payment"]["processorPaymentId"])


async def test_signed_but_impossible_events_are_refused_with_400(api, deps):
    now = int(time.time())
    impossible = [
        intent_event("payment_intent.succeeded", "pi_x", -(10**15)),
        intent_event("payment_intent.succeeded", "pi_x", now, event_id="evt_" + "x" * 5000),
        intent_event("payment_intent.succeeded", "pi_x", now, event_id="evt_" + "y" * 252),
        intent_event("payment_intent.succeeded", "pi_\x00x", now),
    ]
    for event in impossible:
        status, body = await post(api, event)
        assert status == 400, event["id"][:20]
        assert body["errors"][0]["code"] == "INVALID_WEBHOOK"
    assert await scalar(deps, "SELECT count(*) FROM processed_messages") == 0


async def test_a_signature_from_the_future_is_refused(api, deps):
    event = intent_event("payment_intent.succeeded", "pi_y", int(time.time()))
    status, body = await post(api, event, at=int(time.time()) + 86_400)
    assert status == 400
    assert "tolerance" in body["errors"][0]["message"]
    within = intent_event("payment_intent.succeeded", "pi_y", int(time.time()))
    assert (await post(api, within, at=int(time.time()) + 60))[0] == 200


def refund_event(kind: str, refund_id: str, intent: str, status: str, amount: int) -> dict:
    refund = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "currency": "usd",
        "payment_intent": intent,
        "status": status,
        "metadata": {},
    }
    return {
        "id": f"evt_{uuid.uuid4().hex[:12]}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": refund},
    }


async def test_a_refund_made_in_stripes_dashboard_appears_here_once(api, deps):
    intent = await pending_intent(api, deps, "rex")
    assert (await post(api, intent_event("payment_intent.succeeded", intent, int(time.time()))))[1][
        "outcome"
    ] == "applied"
    created = refund_event("refund.created", "re_dash_1", intent, "pending", 400)
    assert await post(api, created) == (200, {"received": True, "outcome": "applied"})
    settled = refund_event("refund.updated", "re_dash_1", intent, "succeeded", 400)
    assert await post(api, settled) == (200, {"received": True, "outcome": "applied"})
    assert await post(api, settled) == (200, {"received": True, "outcome": "duplicate"})
    again = refund_event("refund.updated", "re_dash_1", intent, "succeeded", 400)
    assert (await post(api, again))[1]["outcome"] == "applied"  # a new event, nothing new done
    refunds = await scalar(
        deps,
        "SELECT json_agg(json_build_array(status, amount_cents, created_by)) FROM refunds",
    )
    assert refunds == [["SUCCEEDED", 400, "stripe"]]
    assert await scalar(deps, "SELECT count(*) FROM credit_notes") == 1
    refunded = await scalar(
        deps, "SELECT amount_refunded_cents FROM invoices WHERE user_id = 'rex' AND total_cents > 0"
    )
    assert refunded == 400
    unknown = refund_event("refund.updated", "re_other", "pi_unknown", "succeeded", 100)
    assert (await post(api, unknown))[1]["outcome"] == "unknown_payment"
