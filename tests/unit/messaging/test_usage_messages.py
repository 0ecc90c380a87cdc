"""A usage.recorded message validated straight from its bytes (the consumer's hot path)
gives the command the general path (orjson, then the envelope, then its data) gives,
and anything that path refuses is refused the same way."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.app.envelopes import PoisonMessage, parse
from services.app.usage_messages import usage_command, usage_command_of

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["3", "1e3", "2027-03-01T12:00:00Z", "2027-03-01", "u-1", "", "x" * 300]),
)
FIELDS = {
    "id": st.one_of(st.text(min_size=1, max_size=10), SCALARS),
    "source": st.one_of(st.just("svc"), SCALARS),
    "type": st.just("usage.recorded"),
    "specversion": st.one_of(st.just("1.0"), SCALARS),
    "time": st.one_of(st.just("2027-03-01T12:00:00+02:00"), SCALARS),
}
DATA = {
    "userId": st.one_of(st.sampled_from(["u-1", "has space", "ü"]), SCALARS),
    "meterKey": st.one_of(st.just("tokens"), SCALARS),
    "quantity": st.one_of(st.integers(min_value=-(2**66), max_value=2**66), SCALARS),
    "eventId": SCALARS,
    "occurredAt": st.one_of(st.just("2027-03-01T12:00:00.5+01:00"), SCALARS),
    "value": SCALARS,
}


VALID = {
    "id": "m-1",
    "source": "svc",
    "type": "usage.recorded",
    "specversion": "1.0",
    "data": {"userId": "u-1", "meterKey": "tokens", "quantity": 3, "eventId": "e-1"},
}


@st.composite
def messages(draw: st.DrawFn) -> object:
    """A valid message with a few of its fields replaced or dropped, or its data not an
    object: most are refused, many are not."""
    message: dict[str, Any] = {**VALID, "data": dict(VALID["data"])}
    for name in draw(st.lists(st.sampled_from([*FIELDS, *DATA, "data"]), max_size=3)):
        if name == "data":
            message["data"] = draw(SCALARS)
            continue
        where = message if name in FIELDS else message["data"]
        if not isinstance(where, dict):
            continue
        if draw(st.booleans()):
            where.pop(name, None)
        else:
            where[name] = draw(FIELDS[name] if name in FIELDS else DATA[name])
    return message


def _general(value: bytes) -> object:
    try:
        return usage_command(parse(value))
    except PoisonMessage as poison:
        return ("poison", str(poison))


def _hot(value: bytes) -> object:
    try:
        return usage_command_of(value)
    except PoisonMessage as poison:
        return ("poison", str(poison))


@settings(max_examples=600, deadline=None)
@given(messages(), st.booleans())
def test_the_hot_path_agrees_with_the_general_one(message, ascii_only):
    value = json.dumps(message, ensure_ascii=ascii_only).encode(errors="surrogatepass")
    assert _hot(value) == _general(value)


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"not json",
        b'{"id":"m","source":"s","type":"usage.recorded","specversion":"1.0",'
        b'"data":{"userId":"u\\ud800","meterKey":"t","quantity":1}}',
        b'{"id":"m","source":"s","type":"usage.recorded","specversion":"1.0",'
        b'"data":{"userId":"u","meterKey":"t\\u0000","quantity":1}}',
        b'{"id":"m","source":"s","type":"usage.recorded","specversion":"1.0",'
        b'"data":{"userId":"u","meterKey":"t","quantity":100000000000000000000000}}',
        b'{"id":"m","source":"s","type":"usage.recorded","specversion":"1.0",'
        b'"data":{"userId":"u","meterKey":"t","quantity":NaN}}',
    ],
)
def test_what_the_general_path_refuses_the_hot_path_refuses_alike(value):
    general = _general(value)
    assert isinstance(general, tuple) and general[0] == "poison"
    assert _hot(value) == general


def test_a_valid_message_gives_its_command():
    value = (
        b'{"id":"m-1","source":"s","type":"usage.recorded","specversion":"1.0",'
        b'"data":{"userId":"u-1","meterKey":"tokens","quantity":3}}'
    )
    command = usage_command_of(value)
    assert (command.user_id, command.meter_key, command.quantity) == ("u-1", "tokens", 3)
    assert command.event_id == "m-1"  # the message id when the data names none
