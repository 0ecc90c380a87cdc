"""Business errors raised while answering a query become GraphQL errors that carry
`extensions.code` (and `field`), so resolvers just call the service."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from services.errors import DomainError


def is_intended(error: GraphQLError) -> bool:
    """Errors we raise on purpose, and errors about the client's document: shown even
    where unexpected errors are masked."""
    original = error.original_error
    return original is None or isinstance(original, GraphQLError | DomainError)


def with_codes(errors: Iterable[GraphQLError]) -> list[GraphQLError]:
    """Put a business error's code and field in its extensions."""
    coded = []
    for error in errors:
        original = error.original_error
        if isinstance(original, DomainError):
            error.extensions = {"code": original.code.value, "field": original.field}
        coded.append(error)
    return coded


class DomainErrorCodes(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            with_codes(result.errors)
