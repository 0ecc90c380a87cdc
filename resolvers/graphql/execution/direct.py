"""The simplest documents run without graphql-core's executor: one root field of an
object type that selects leaf fields only (no fragments, directives, lists or nested
objects) — the shape of a quota check (`consumeQuota { allowed remaining }`) or a
status read. Its machinery (execution context, incremental delivery, field collection
and completion for every field) was a fifth of such a call's CPU.

Nothing else changes: the same coercion of variables and arguments (graphql-core's own
functions), the same resolvers with Strawberry's wrappers (argument conversion,
permission classes), the same leaf serialization, and errors located and nulls
propagated as graphql-core does. A document of any other shape gets no plan and runs
through `graphql.execute`. tests/unit/schema/test_direct_execution.py runs documents
both ways and compares the answers.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any, NamedTuple, cast

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    default_field_resolver,
    located_error,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.pyutils import Path, Undefined, inspect

PLANS = 256  # simple documents remembered, each held with its plan
PLANNED_CHARS = 4096  # longer documents are not planned (nor held)


@dataclass(frozen=True)
class _Leaf:
    key: str  # the response key: the alias, or the name
    node: FieldNode
    definition: GraphQLField | None  # None for __typename
    type: GraphQLScalarType | GraphQLEnumType | None  # None for __typename
    nullable: bool


@dataclass(frozen=True)
class Plan:
    operation: OperationDefinitionNode
    root: GraphQLObjectType
    key: str
    node: FieldNode
    definition: GraphQLField
    object_type: GraphQLObjectType
    nullable: bool
    leaves: tuple[_Leaf, ...]


class Plans:
    """The plans of recent simple documents, keyed by the document object (the document
    cache hands out the same one for the same text). A document of another shape is
    looked at again each time: the checks give up within a few attribute reads, and
    holding it here would double what the document cache bounds."""

    def __init__(self, schema: GraphQLSchema, size: int = PLANS) -> None:
        self.schema = schema
        self.size = size
        self._plans: OrderedDict[tuple[int, str | None], tuple[DocumentNode, Plan]] = OrderedDict()

    def get(self, document: DocumentNode, operation_name: str | None) -> Plan | None:
        key = (id(document), operation_name)
        found = self._plans.get(key)
        if found is not None and found[0] is document:
            self._plans.move_to_end(key)
            return found[1]
        if document.loc is None or document.loc.end > PLANNED_CHARS:
            return None
        plan = plan_for(self.schema, document, operation_name)
        if plan is not None:
            self._plans[key] = (document, plan)
            if len(self._plans) > self.size:
                self._plans.popitem(last=False)
        return plan


def _unwrap(type_: Any) -> tuple[Any, bool]:
    if isinstance(type_, GraphQLNonNull):
        return type_.of_type, False
    return type_, True


def plan_for(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> Plan | None:
    """A plan when the document has the simple shape, else None."""
    if len(document.definitions) != 1:
        return None
    operation = document.definitions[0]
    if not isinstance(operation, OperationDefinitionNode) or operation.directives:
        return None
    if operation_name is not None and (
        operation.name is None or operation.name.value != operation_name
    ):
        return None
    if operation.operation is OperationType.QUERY:
        root = schema.query_type
    elif operation.operation is OperationType.MUTATION:
        root = schema.mutation_type
    else:
        return None
    selections = operation.selection_set.selections
    if root is None or len(selections) != 1:
        return None
    node = selections[0]
    if not isinstance(node, FieldNode) or node.directives or node.selection_set is None:
        return None
    definition = root.fields.get(node.name.value)
    if definition is None:
        return None
    object_type, nullable = _unwrap(definition.type)
    if not isinstance(object_type, GraphQLObjectType):
        return None
    leaves: list[_Leaf] = []
    for selection in node.selection_set.selections:
        if (
            not isinstance(selection, FieldNode)
            or selection.directives
            or selection.selection_set is not None
        ):
            return None
        name = selection.name.value
        key = selection.alias.value if selection.alias else name
        if any(leaf.key == key for leaf in leaves):
            return None  # merged selections: left to the executor
        if name == "__typename":
            if selection.arguments:
                return None
            leaves.append(_Leaf(key, selection, None, None, False))
            continue
        field = object_type.fields.get(name)
        if field is None:
            return None
        leaf_type, leaf_nullable = _unwrap(field.type)
        if not isinstance(leaf_type, (GraphQLScalarType, GraphQLEnumType)):
            return None
        leaves.append(_Leaf(key, selection, field, leaf_type, leaf_nullable))
    key = node.alias.value if node.alias else node.name.value
    return Plan(operation, root, key, node, definition, object_type, nullable, tuple(leaves))


class _Null(Exception):
    """A non-null field came out null: its parent is null too."""


async def execute_plan(
    plan: Plan, schema: GraphQLSchema, variables: dict[str, Any] | None, context: Any
) -> ExecutionResult:
    """What `graphql.execute` answers for the plan's document."""
    values = get_variable_values(schema, plan.operation.variable_definitions or (), variables or {})
    if isinstance(values, list):
        return ExecutionResult(None, values)
    errors: list[GraphQLError] = []
    path = Path(None, plan.key, plan.root.name)
    info = _info(plan.node, plan.definition, plan.root, path, schema, plan, values, context)
    try:
        arguments = get_argument_values(plan.definition, plan.node, values)
        resolve = plan.definition.resolve or default_field_resolver
        result = resolve(None, info, **arguments)
        if isawaitable(result):
            result = await result
        data = await _complete(plan, result, info, path, values, errors)
    except _Null:
        data = None
    except Exception as raw:
        errors.append(located_error(raw, [plan.node], path.as_list()))
        data = None
    if data is None and not plan.nullable:
        return ExecutionResult(None, errors)
    return ExecutionResult({plan.key: data}, errors or None)


async def _complete(
    plan: Plan,
    result: Any,
    info: GraphQLResolveInfo[Any],
    path: Path,
    values: Any,
    errors: list[GraphQLError],
) -> dict[str, Any] | None:
    if isinstance(result, Exception):
        raise result
    object_type = plan.object_type
    if result is None or result is Undefined:
        if plan.nullable:
            return None
        raise TypeError(
            f"Cannot return null for non-nullable field {plan.root}.{plan.node.name.value}."
        )
    if object_type.is_type_of:
        matches = object_type.is_type_of(result, info)
        if isawaitable(matches):
            matches = await matches
        if not matches:
            raise GraphQLError(
                f"Expected value of type '{object_type}' but got: {inspect(result)}.",
                [plan.node],
            )
    data: dict[str, Any] = {}
    for leaf in plan.leaves:
        if leaf.definition is None:
            data[leaf.key] = object_type.name
            continue
        leaf_path = Path(path, leaf.key, object_type.name)
        try:
            data[leaf.key] = await _leaf(plan, leaf, result, leaf_path, info, values)
        except Exception as raw:
            errors.append(located_error(raw, [leaf.node], leaf_path.as_list()))
            if not leaf.nullable:
                raise _Null from raw
            data[leaf.key] = None
    return data


async def _leaf(
    plan: Plan, leaf: _Leaf, source: Any, path: Path, parent: GraphQLResolveInfo[Any], values: Any
) -> Any:
    definition, leaf_type = leaf.definition, leaf.type
    assert definition is not None and leaf_type is not None  # __typename is answered above
    info = _info(
        leaf.node, definition, plan.object_type, path, parent.schema, plan, values, parent.context
    )
    arguments = (
        get_argument_values(definition, leaf.node, values)
        if definition.args or leaf.node.arguments
        else {}
    )
    value = (definition.resolve or default_field_resolver)(source, info, **arguments)
    if isawaitable(value):
        value = await value
    if isinstance(value, Exception):
        raise value
    if value is None or value is Undefined:
        if leaf.nullable:
            return None
        raise TypeError(
            f"Cannot return null for non-nullable field {plan.object_type}.{leaf.node.name.value}."
        )
    coerced = leaf_type.coerce_output_value(value)
    if coerced is Undefined or coerced is None:
        raise TypeError(
            f"Expected `{inspect(leaf_type)}.coerce_output_value({inspect(value)})` to return"
            f" non-nullable value, returned: {inspect(coerced)}"
        )
    return coerced


class _Info(NamedTuple):
    """graphql-core's GraphQLResolveInfo as Strawberry's executor builds it: variables as
    the plain coerced dict, and the operation's extensions (none here)."""

    field_name: str
    field_nodes: list[FieldNode]
    return_type: Any
    parent_type: GraphQLObjectType
    path: Path
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    root_value: Any
    operation: OperationDefinitionNode
    variable_values: dict[str, Any]
    context: Any
    is_awaitable: Any
    abort_signal: Any
    async_helpers: Any
    operation_extensions: Any


def _info(
    node: FieldNode,
    definition: GraphQLField,
    parent_type: GraphQLObjectType,
    path: Path,
    schema: GraphQLSchema,
    plan: Plan,
    values: Any,
    context: Any,
) -> GraphQLResolveInfo[Any]:
    return cast(
        "GraphQLResolveInfo[Any]",
        _Info(
            node.name.value,
            [node],
            definition.type,
            parent_type,
            path,
            schema,
            {},
            None,
            plan.operation,
            values.coerced,
            context,
            isawaitable,
            None,
            None,
            None,
        ),
    )
