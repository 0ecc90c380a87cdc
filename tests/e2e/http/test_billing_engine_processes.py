"""The service as deployed against a separate Billing Engine: `main.py serve` with
PAYMENT_GATEWAY=billing_engine and the stand-in `main.py billing-engine`, each its own
process, over GraphQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from services.platform.auth import mint_token
from services.platform.clock import SystemClock
from tests.e2e.websockets.test_live_processes import ROOT, start_api
from tests.ports import free_port, wait_until_listening

SUBSCRIBE = 'mutation { subscribe(input: {planCode: "premium", paymentMethodId: "pm_card_visa"}) { subscription { status } errors { code } } }'
ADD_CARD = (
    'mutation { addPaymentMethod(input: {paymentMethodId: "pm_card_visa"}) { errors { code } } }'
)


def test_the_service_charges_through_a_separate_engine_and_survives_its_outage(deps, settings):
    engine_port = free_port()
    engine = subprocess.Popen(
        [sys.executable, "main.py", "billing-engine", "--port", str(engine_port)],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until_listening(engine_port, engine, "the stand-in billing engine")
    assert settings.database_url
    api, url = start_api(
        settings.database_url,
        None,
        "--with-worker",
        env={"PAYMENT_GATEWAY": "billing_engine", "BILLING_ENGINE_URL": f"127.0.0.1:{engine_port}"},
    )
    headers = {"Authorization": f"Bearer {mint_token(settings, 'eve', [], SystemClock().now())}"}
    try:
        subscribed = httpx.post(f"{url}/graphql", json={"query": SUBSCRIBE}, headers=headers)
        assert subscribed.json()["data"]["subscribe"] == {
            "subscription": {"status": "TRIALING"},
            "errors": [],
        }
        methods = httpx.post(
            f"{url}/graphql", json={"query": "{ paymentMethods { id last4 } }"}, headers=headers
        ).json()["data"]["paymentMethods"]
        assert methods[0]["id"].startswith("pm_engine_") and methods[0]["last4"] == "4242"

        engine.terminate()
        engine.wait(timeout=10)
        time.sleep(0.2)
        down = httpx.post(f"{url}/graphql", json={"query": ADD_CARD}, headers=headers)
        assert down.json()["data"]["addPaymentMethod"]["errors"] == [
            {"code": "PAYMENT_GATEWAY_UNAVAILABLE"}
        ]
        still = httpx.get(f"{url}/api/v1/subscriptions/me", headers=headers)
        assert still.json()["subscription"]["status"] == "TRIALING"
    finally:
        api.terminate()
        api.wait(timeout=20)
        if engine.poll() is None:
            engine.kill()
