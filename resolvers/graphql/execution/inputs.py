"""Input objects built by a converter worked out once per input type, through
Strawberry's `from_input` hook. Strawberry's own conversion resolves each field's
annotation and GraphQL name on every call (about 30 µs for consumeQuota's input, a
tenth of the call); graphql-core has coerced the values already, so for inputs whose
fields are scalars, enums, lists of them and inputs like these, building the object is
all that is left. An input type with any other field keeps Strawberry's conversion."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any

import strawberry
from strawberry.relay import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition

FromInput = Callable[[type, Mapping[str, Any], InputContext], Any]
Convert = Callable[[Any, InputContext], Any]


def _same(value: Any, context: InputContext) -> Any:
    return value


def _list(value: Any, context: InputContext) -> Any:
    return list(value)  # a copy: graphql-core shares defaults between requests


class _Built:
    """Builds one input type's objects as Strawberry would: every field without a
    default starts as None, each field sent is converted, the class gets the lot."""

    def __init__(self, fields: list[tuple[str, str, Convert]], unset: dict[str, None]) -> None:
        self.fields = fields  # (GraphQL name, Python name, conversion)
        self.unset = unset

    def __call__(self, cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        kwargs: dict[str, Any] = dict(self.unset)
        for name, python_name, convert in self.fields:
            if name in value:
                found = value[name]
                kwargs[python_name] = None if found is None else convert(found, context)
        return cls(**kwargs)


class _Compiler:
    def __init__(self, schema: strawberry.Schema) -> None:
        self.scalars = schema.schema_converter.scalar_registry
        self.names = schema.config.name_converter
        self.done: dict[int, FromInput | None] = {}

    def from_input(self, definition: StrawberryObjectDefinition) -> FromInput | None:
        """The builder of `definition`'s objects; None: a field needs Strawberry's own."""
        key = id(definition)
        if key not in self.done:
            self.done[key] = None  # an input holding itself keeps Strawberry's conversion
            self.done[key] = self._build(definition)
        return self.done[key]

    def _build(self, definition: StrawberryObjectDefinition) -> FromInput | None:
        fields: list[tuple[str, str, Convert]] = []
        for field in definition.fields:
            convert = self._convert(field.resolve_type(type_definition=definition))
            if convert is None:
                return None
            assert field.python_name is not None
            fields.append((self.names.from_field(field), field.python_name, convert))
        unset = {
            field.python_name: None
            for field in definition.fields
            if field.default_value is MISSING and field.default_factory is MISSING
        }
        return _Built(fields, unset)

    def _convert(self, type_: StrawberryType | type) -> Convert | None:
        if isinstance(type_, StrawberryMaybe) or type_ is GlobalID:
            return None
        if isinstance(type_, StrawberryOptional):  # a null is handled by the caller
            return self._convert(type_.of_type)
        if isinstance(type_, StrawberryList):
            item = self._convert(type_.of_type)
            if item is None:
                return None
            if item is _same:
                return _list
            return lambda value, context: [
                None if one is None else item(one, context) for one in value
            ]
        if (
            isinstance(type_, StrawberryEnumDefinition)
            or has_enum_definition(type_)
            or is_scalar(type_, self.scalars)
        ):
            return _same  # graphql-core has parsed it (an enum to its member)
        if has_object_definition(type_) and type_.__strawberry_definition__.is_input:
            nested = self.from_input(type_.__strawberry_definition__)
            if nested is None:
                return None
            cls: type = type_
            return lambda value, context: nested(cls, value, context)
        return None


def compile_inputs(schema: strawberry.Schema) -> int:
    """Give every input type of `schema` that allows it a compiled `from_input`; how
    many did."""
    compiler = _Compiler(schema)
    compiled = 0
    for concrete in list(schema.schema_converter.type_map.values()):
        definition = concrete.definition
        if not isinstance(definition, StrawberryObjectDefinition) or not definition.is_input:
            continue
        if definition.from_input is not None and not isinstance(definition.from_input, _Built):
            continue  # an integration's own builder
        built = compiler.from_input(definition)
        if built is not None:
            definition.from_input = built
            compiled += 1
    return compiled
