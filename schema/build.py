"""Schema assembly with its limits. Extensions are passed as classes or factories so each
request gets a fresh instance; the parser and validation caches are on from the start.

The document cache below: parsed and validated documents, remembered once per process
and bounded in bytes.

A client sends the same few documents over and over, so parsing and validating each
distinct one once is the cheapest win on the hot path. A hostile client sends
thousands of distinct large documents (comment padding makes any document distinct),
so the cache is bounded by an estimate of the memory it holds, not by a count: only
short texts are remembered verbatim; a longer one is parsed each time and its verdict is
found under its printed form, which comments and whitespace do not change."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence

import strawberry
from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse, print_ast, validate
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule, specified_rules
from strawberry.extensions import MaxTokensLimiter, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.config import StrawberryConfig

from resolvers.graphql.execution.inputs import compile_inputs
from schema.errors import GuardedOperation, NoUnstorableText
from schema.root import Live, Mutation, Query
from services.platform.config import Settings

Prepared = tuple[DocumentNode | None, list[GraphQLError]]
RAW_KEY_LIMIT = 4096  # texts longer than this are never keys
AST_BYTES_PER_CHAR = 24  # a parsed document holds ~20-30x its printed size
INVALID_COST = 1024


class DocumentCache:
    schema: GraphQLSchema  # bound by build_schema once the schema exists

    def __init__(
        self,
        rules: Sequence[type[ASTValidationRule]],
        *,
        max_tokens: int,
        hide_suggestions: bool,
        max_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.rules = [*specified_rules, *rules]
        self.max_tokens = max_tokens
        self.hide_suggestions = hide_suggestions
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[Prepared, int]] = OrderedDict()

    def prepare(self, query: str) -> Prepared:
        """The parsed document (None if invalid) and its errors."""
        short = len(query) <= RAW_KEY_LIMIT
        if short and (found := self._get(query)) is not None:
            return found
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError as error:
            prepared: Prepared = (None, [error])
            if short:
                self._put(query, prepared, len(query) + INVALID_COST)
            return prepared
        printed = print_ast(document)
        canonical = self._get(printed)
        if canonical is None:
            errors = validate(
                self.schema, document, self.rules, hide_suggestions=self.hide_suggestions
            )
            canonical = (None if errors else document, list(errors))
            self._put(printed, canonical, len(printed) * (1 + AST_BYTES_PER_CHAR))
        if short and query != printed:
            self._put(query, canonical, len(query) + len(printed) * AST_BYTES_PER_CHAR)
        return canonical

    def canonical_text(self, query: str) -> str:
        """The printed form of a valid document (what a persisted hash maps to)."""
        document, _ = self.prepare(query)
        return print_ast(document) if document is not None else query

    def _get(self, key: str) -> Prepared | None:
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[0]

    def _put(self, key: str, prepared: Prepared, cost: int) -> None:
        if cost > self.max_bytes // 4:
            return  # one entry may not crowd out the rest
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._entries[key] = (prepared, cost)
        self.bytes += cost
        while self.bytes > self.max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.bytes -= evicted

    def __len__(self) -> int:
        return len(self._entries)


class CachedDocuments(SchemaExtension):
    """Strawberry's parse and validate steps from the shared cache (websockets and the
    view's other paths); Strawberry parses itself only to report a syntax error."""

    def __init__(self, cache: DocumentCache) -> None:
        super().__init__()
        self.cache = cache
        self._prepared: Prepared | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None:
            self._prepared = self.cache.prepare(context.query)
            if self._prepared[0] is not None:
                context.graphql_document = self._prepared[0]
        yield

    def on_validate(self) -> Iterator[None]:
        if self._prepared is not None and self._prepared[0] is not None:
            self.execution_context.pre_execution_errors = []  # validated when cached
        elif self._prepared is not None:
            self.execution_context.pre_execution_errors = self._prepared[1]
        yield


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
    compile_inputs(schema)
    return schema


if __name__ == "__main__":  # print the SDL: python -m schema.build > docs/schema.graphql
    print(build_schema(Settings()))
