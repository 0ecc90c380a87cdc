"""Schema assembly with its limits. Extensions are passed as classes or factories so each
request gets a fresh instance; the parser and validation caches are on from the start."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from schema.root import Mutation, Query
from services.config import Settings

CACHE_SIZE = 1024
# Codes we raise on purpose: safe to show even when other errors are masked.
PUBLIC_CODES = frozenset(
    {"UNAUTHENTICATED", "FORBIDDEN", "INVALID_INPUT", "NOT_FOUND", "PLAN_NOT_FOUND"}
)


def _is_public(error: GraphQLError) -> bool:
    if error.original_error is None:
        return True  # parse / validation / limit errors describe the client's document
    code = (error.extensions or {}).get("code")
    return code in PUBLIC_CODES


def build_schema(settings: Settings) -> strawberry.Schema:
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
    ]
    if settings.is_production:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
        extensions.append(lambda: MaskErrors(should_mask_error=lambda e: not _is_public(e)))
    config = StrawberryConfig(disable_field_suggestions=settings.is_production)
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=extensions, config=config)
