"""Schema assembly with its limits. Extensions are passed as classes or factories so each
request gets a fresh instance; the parser and validation caches are on from the start."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.config import StrawberryConfig

from schema.errors import DomainErrorCodes, is_intended
from schema.root import Live, Mutation, Query
from services.config import Settings

CACHE_SIZE = 1024


def limit_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """Depth and alias limits (and no introspection in production), built once: the
    validation cache is keyed by the rule classes, and QueryDepthLimiter /
    MaxAliasesLimiter would make new ones per request, so nothing would ever hit."""
    rules: list[type[ASTValidationRule]] = [
        depth_rule(settings.graphql_max_depth, None),
        alias_rule(settings.graphql_max_aliases),
    ]
    if settings.is_production:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules


def build_schema(settings: Settings) -> strawberry.Schema:
    rules = limit_rules(settings)
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        DomainErrorCodes,
    ]
    if settings.is_production:
        extensions.append(lambda: MaskErrors(should_mask_error=lambda e: not is_intended(e)))
    config = StrawberryConfig(disable_field_suggestions=settings.is_production)
    return strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Live, extensions=extensions, config=config
    )
