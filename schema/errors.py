"""Business errors raised while answering a query become GraphQL errors that carry
`extensions.code` (and `field`), so resolvers just call the service."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from services.errors import DomainError


def is_intended(error: GraphQLError) -> bool:
    """Errors we raise on purpose, and errors about the client's document: shown even
    where unexpected errors are masked."""
    original = error.original_error
    return original is None or isinstance(original, GraphQLError | DomainError)


class DomainErrorCodes(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in (result.errors if result else None) or []:
            original = error.original_error
            if isinstance(original, DomainError):
                error.extensions = {"code": original.code.value, "field": original.field}
