"""Input objects built by the compiled converters (resolvers/graphql/execution/inputs.py)
equal what Strawberry's own conversion builds: for every input type of the service's
schema, on random values (nested inputs, enums, lists, nulls, omitted fields); a type
with a field the converters do not know keeps Strawberry's conversion; a request runs
the same either way."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest
import strawberry
from strawberry.relay import GlobalID
from strawberry.types.arguments import convert_argument
from strawberry.types.base import (
    StrawberryList,
    StrawberryObjectDefinition,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import has_enum_definition

from resolvers.graphql.execution.inputs import compile_inputs
from schema.build import build_schema
from services.platform.config import Settings


def _inputs(schema: strawberry.Schema) -> list[StrawberryObjectDefinition]:
    return [
        concrete.definition
        for concrete in schema.schema_converter.type_map.values()
        if isinstance(concrete.definition, StrawberryObjectDefinition)
        and concrete.definition.is_input
    ]


@contextmanager
def strawberry_own(schema: strawberry.Schema) -> Iterator[None]:
    """Every input converted by Strawberry itself meanwhile."""
    saved = {id(d): (d, d.from_input) for d in _inputs(schema)}
    for definition, _ in saved.values():
        definition.from_input = None
    try:
        yield
    finally:
        for definition, built in saved.values():
            definition.from_input = built


def _sample(schema: strawberry.Schema, type_: Any, rng: random.Random, depth: int = 0) -> Any:
    """A value as graphql-core hands it over: GraphQL field names, enums as members."""
    if isinstance(type_, StrawberryOptional):
        return None if rng.random() < 0.3 else _sample(schema, type_.of_type, rng, depth)
    if isinstance(type_, StrawberryList):
        return [_sample(schema, type_.of_type, rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if has_enum_definition(type_):
        return rng.choice(list(type_))
    if has_object_definition(type_):
        definition = type_.__strawberry_definition__
        value = {}
        for field in definition.fields:
            optional = field.default_value is not MISSING or field.default_factory is not MISSING
            if optional and rng.random() < 0.3:
                continue  # omitted: the dataclass default applies
            name = schema.config.name_converter.from_field(field)
            value[name] = _sample(schema, field.resolve_type(type_definition=definition), rng)
        return value
    return rng.choice(["text", 7, 0, 1.5, True, datetime(2027, 1, 2, tzinfo=UTC), {"k": [1]}])


def _convert(schema: strawberry.Schema, value: Any, cls: type) -> Any:
    registry = schema.schema_converter.scalar_registry
    return convert_argument(value, cls, registry, schema.config)


def test_every_input_of_the_service_builds_what_strawberry_builds() -> None:
    schema = build_schema(Settings())
    definitions = _inputs(schema)
    assert len(definitions) > 40
    assert all(d.from_input is not None for d in definitions)  # each of them compiled
    rng = random.Random(30)
    compared = 0
    for definition in definitions:
        for _ in range(40):
            value = _sample(schema, definition.origin, rng)
            ours = _convert(schema, value, definition.origin)
            with strawberry_own(schema):
                theirs = _convert(schema, value, definition.origin)
            assert ours == theirs, (definition.name, value)
            assert type(ours) is type(theirs)
            compared += 1
    assert compared == 40 * len(definitions)


@strawberry.enum
class Size(Enum):
    SMALL = "small"
    LARGE = "large"


@strawberry.input
class Part:
    label: str
    size: Size = Size.SMALL


@strawberry.input
class Order:
    parts: list[Part]
    tags: list[str] | None = None
    note: str | None = None
    count: int = 1


@strawberry.input
class ByGlobalId:
    node: GlobalID


@strawberry.input
class Holder:
    inner: ByGlobalId


@strawberry.type
class Query:
    @strawberry.field
    def order(self, order: Order) -> str:
        parts = ",".join(f"{p.label}:{p.size.value}" for p in order.parts)
        return f"{parts}|{order.tags}|{order.note}|{order.count}"

    @strawberry.field
    def node(self, holder: Holder) -> str:
        return f"{holder.inner.node.type_name}/{holder.inner.node.node_id}"


def _small_schema() -> strawberry.Schema:
    schema = strawberry.Schema(query=Query)
    assert compile_inputs(schema) == 2  # Part and Order, not the GlobalID pair
    return schema


def test_an_input_the_converters_do_not_know_keeps_strawberrys_conversion() -> None:
    schema = _small_schema()
    names = {d.name: d.from_input for d in _inputs(schema)}
    assert names["ByGlobalId"] is None and names["Holder"] is None
    assert names["Order"] is not None and names["Part"] is not None
    node = GlobalID("Thing", "7")
    answer = schema.execute_sync(f'{{ node(holder: {{inner: {{node: "{node}"}}}}) }}')
    assert answer.errors is None and answer.data == {"node": "Thing/7"}


@pytest.mark.parametrize(
    "order",
    [
        '{parts: [{label: "a"}, {label: "b", size: LARGE}], tags: ["x"], count: 3}',
        "{parts: [], note: null}",
        '{parts: [{label: "c", size: SMALL}], tags: null, note: "n"}',
    ],
)
def test_a_request_runs_the_same_with_the_compiled_converters(order: str) -> None:
    schema = _small_schema()
    document = f"{{ order(order: {order}) }}"
    ours = schema.execute_sync(document)
    with strawberry_own(schema):
        theirs = schema.execute_sync(document)
    assert ours.errors is None and theirs.errors is None
    assert ours.data == theirs.data


def test_a_list_of_leaves_is_a_copy() -> None:
    schema = _small_schema()
    tags = ["x", "y"]
    built = _convert(schema, {"parts": [], "tags": tags}, Order)
    assert built.tags == tags and built.tags is not tags
