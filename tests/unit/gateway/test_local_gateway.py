from __future__ import annotations

import pytest

from services.gateway.base import (
    ChargeOutcome,
    ChargeRequest,
    GatewayUnavailable,
    UnknownPaymentMethod,
)
from services.gateway.local import LocalGateway


def request(method: str, key: str = "k1", *, off_session: bool = False) -> ChargeRequest:
    return ChargeRequest("cus_1", method, 999, "USD", "test", key, off_session=off_session)


async def test_saved_methods_survive_a_restart_of_the_gateway():
    saved = await LocalGateway().attach_payment_method("cus_1", "pm_card_chargeDeclined")
    assert saved.payment_method_id.startswith("pm_local_chargeDeclined_")
    result = await LocalGateway().charge(request(saved.payment_method_id))
    assert result.outcome is ChargeOutcome.DECLINED


async def test_a_repeated_key_replays_the_first_result():
    gateway = LocalGateway()
    first = await gateway.charge(request("pm_card_visa"))
    again = await gateway.charge(request("pm_card_visa"))
    assert first == again and gateway.charge_count == 1


async def test_authentication_off_session_declines_and_bad_methods_are_unknown():
    gateway = LocalGateway()
    on = await gateway.charge(request("pm_card_authenticationRequired", "a"))
    off = await gateway.charge(request("pm_card_authenticationRequired", "b", off_session=True))
    assert on.outcome is ChargeOutcome.REQUIRES_ACTION and on.client_secret
    assert off.outcome is ChargeOutcome.DECLINED
    with pytest.raises(UnknownPaymentMethod):
        await gateway.charge(request("pm_local_gold_1234", "c"))
    gateway.available = False
    with pytest.raises(GatewayUnavailable):
        await gateway.charge(request("pm_card_visa", "d"))
