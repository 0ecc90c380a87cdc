"""The direct executor answers exactly what graphql-core's executor answers: each
document runs both ways on a Strawberry schema built for the cases (sync and async
resolvers, aliases, `__typename`, leaf arguments, enums and custom scalars, variables
good and bad, input objects, permission classes, errors and nulls in leaves and at the
root, nullable and non-null), and the data and formatted errors must match. Documents
of any other shape get no plan."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest
import strawberry
from graphql import execute, parse, validate
from strawberry.permission import BasePermission
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from resolvers.graphql.execution.direct import Plans, execute_plan, plan_for

AT = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)


@strawberry.enum
class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Allowed(BasePermission):
    message = "not allowed here"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return bool(info.context.get("allowed"))


@strawberry.type
class Thing:
    name: str
    size: int | None
    color: Color
    at: datetime

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times

    @strawberry.field
    async def later(self, info: strawberry.Info) -> str:
        return f"{self.name} for {info.context.get('who')} at {info.path.key}"

    @strawberry.field
    def broken(self) -> str | None:
        raise ValueError("this leaf broke")

    @strawberry.field
    def missing(self) -> str:
        return None  # type: ignore[return-value]  # a non-null field answering null

    @strawberry.field(permission_classes=[Allowed])
    def secret(self) -> str:
        return "hush"


@strawberry.input
class ThingInput:
    name: str
    size: int | None = None
    color: Color = Color.RED


def thing(name: str, size: int | None = 3) -> Thing:
    return Thing(name=name, size=size, color=Color.BLUE, at=AT)


@strawberry.type
class Query:
    @strawberry.field
    def thing(self, name: str = "a") -> Thing:
        return thing(name)

    @strawberry.field
    async def maybe(self, name: str | None = None) -> Thing | None:
        return thing(name, None) if name else None

    @strawberry.field
    async def fails(self) -> Thing:
        raise RuntimeError("the root broke")

    @strawberry.field(permission_classes=[Allowed])
    def guarded(self) -> Thing:
        return thing("guarded")

    @strawberry.field
    def things(self) -> list[Thing]:
        return [thing("x")]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def make(self, input: ThingInput) -> Thing:
        return Thing(name=input.name, size=input.size, color=input.color, at=AT)


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)._schema

SAME = [
    ("{ thing { name size color at } }", None),
    ('{ t: thing(name: "b") { __typename n: name shout(times: 2) later } }', None),
    ("query($n: String!) { thing(name: $n) { name shout } }", {"n": "vee"}),
    ("query($n: String!) { thing(name: $n) { name } }", {}),
    ("query($n: String!) { thing(name: $n) { name } }", {"n": 123}),
    ("query($k: Int) { thing { shout(times: $k) } }", {"k": "many"}),
    ("{ thing { name broken size } }", None),
    ("{ thing { b1: broken name b2: broken } }", None),  # two errors, in order
    ("{ thing { name missing size } }", None),
    ("{ maybe { name } }", None),
    ('{ maybe(name: "m") { name size } }', None),
    ('{ maybe(name: "m") { name missing } }', None),
    ("{ fails { name } }", None),
    ("{ guarded { name } }", None),
    ("{ thing { name secret } }", None),
    ("mutation($i: ThingInput!) { make(input: $i) { name size color } }", {"i": {"name": "z"}}),
    (
        "mutation($i: ThingInput!) { make(input: $i) { name size color } }",
        {"i": {"name": "z", "size": 7, "color": "BLUE"}},
    ),
    ("mutation($i: ThingInput!) { make(input: $i) { name } }", {"i": {"size": "x"}}),
    ('mutation { make(input: {name: "lit", size: 2}) { name size __typename } }', None),
    ("query Named { thing { name } }", None),
]


async def _core(document: Any, variables: Any, context: Any) -> tuple[Any, list[Any]]:
    result: Any = execute(
        SCHEMA,
        document,
        context_value=context,
        variable_values=variables,
        executor_class=StrawberryGraphQLCoreExecutionContext,
    )
    if not isinstance(result, type(None)) and hasattr(result, "__await__"):
        result = await result
    return result.data, [error.formatted for error in result.errors or []]


@pytest.mark.parametrize("allowed", [False, True])
@pytest.mark.parametrize(("query", "variables"), SAME)
async def test_the_direct_answer_is_graphql_cores(query: str, variables: Any, allowed: bool):
    document = parse(query)
    assert validate(SCHEMA, document) == []
    plan = plan_for(SCHEMA, document, None)
    assert plan is not None
    context = {"allowed": allowed, "who": "ann"}
    direct = await execute_plan(plan, SCHEMA, variables, context)
    got = (direct.data, [error.formatted for error in direct.errors or []])
    assert got == await _core(document, variables, context)


@pytest.mark.parametrize(
    "query",
    [
        "{ things { name } }",  # a list
        "{ thing { ...F } } fragment F on Thing { name }",
        "{ thing { ... on Thing { name } } }",
        "{ thing { name @include(if: true) } }",
        "query @skip(if: false) { thing { name } }",
        "{ a: thing { name } b: thing { name } }",  # two root fields
        "{ thing { name name } }",  # merged selections
        "{ __typename }",
        "{ __schema { queryType { name } } }",
        "{ thing { name } } query Other { thing { size } }",
    ],
)
def test_other_shapes_get_no_plan(query: str):
    assert plan_for(SCHEMA, parse(query), None) is None


def test_plans_are_kept_per_document_and_operation():
    plans = Plans(SCHEMA, size=2)
    simple = parse("query Q { thing { name } }")
    first = plans.get(simple, None)
    assert first is not None and plans.get(simple, None) is first  # remembered
    assert plans.get(simple, "Other") is None  # the named operation is not there
    assert plans.get(parse("{ things { name } }"), None) is None
    assert plans.get(parse("{ thing { name } }"), None) is not None
    assert plans.get(parse("{ thing { size } }"), None) is not None  # the first is dropped
    assert len(plans._plans) == 2
    long = parse("{ thing(name: " + '"' + "x" * 5000 + '"' + ") { name } }")
    assert plans.get(long, None) is None  # too long to hold
