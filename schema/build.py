"""Schema assembly with its limits. Extensions are passed as classes or factories so each
request gets a fresh instance; the parser and validation caches are on from the start."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxTokensLimiter, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.config import StrawberryConfig

from schema.documents import CachedDocuments, DocumentCache
from schema.errors import GuardedOperation, NoUnstorableText
from schema.root import Live, Mutation, Query
from services.platform.config import Settings


def limit_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """Depth and alias limits, no unstorable text in literals (and no introspection in
    production), built once: QueryDepthLimiter / MaxAliasesLimiter would make new rule
    classes per request."""
    rules: list[type[ASTValidationRule]] = [
        depth_rule(settings.graphql_max_depth, None),
        alias_rule(settings.graphql_max_aliases),
        NoUnstorableText,
    ]
    if settings.is_production:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules


def document_cache(settings: Settings) -> DocumentCache:
    return DocumentCache(
        limit_rules(settings),
        max_tokens=settings.graphql_max_tokens,
        hide_suggestions=settings.is_production,
        max_bytes=settings.graphql_document_cache_bytes,
    )


def build_schema(settings: Settings, documents: DocumentCache | None = None) -> strawberry.Schema:
    """The schema; `documents` (shared with the lean entry) is bound to it."""
    documents = document_cache(settings) if documents is None else documents
    # The document cache validates with limit_rules, so no AddValidationRules here; the
    # token limit stays for Strawberry's own parse, which reports syntax errors.
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: CachedDocuments(documents),
        GuardedOperation,  # in development too: an internal error never reaches a client
    ]
    config = StrawberryConfig(disable_field_suggestions=settings.is_production)
    schema = strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Live, extensions=extensions, config=config
    )
    documents.schema = schema._schema
    return schema


if __name__ == "__main__":  # print the SDL: python -m schema.build > docs/schema.graphql
    print(build_schema(Settings()))
