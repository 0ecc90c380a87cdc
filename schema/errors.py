"""Business errors raised while answering a query become GraphQL errors that carry
`extensions.code` (and `field`), so resolvers just call the service."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from schema.input_guard import variables_error
from services.common.errors import DomainError

log = logging.getLogger(__name__)
MASKED = "Unexpected error."


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


def masked(error: GraphQLError) -> GraphQLError:
    """What a client sees of an unexpected error: no SQL, no parameters, no traceback,
    but a request id that finds the full error in the log."""
    request_id = uuid.uuid4().hex[:16]
    log.error(
        "unexpected error (requestId %s) at %s",
        request_id,
        error.path,
        exc_info=error.original_error or error,
    )
    return GraphQLError(
        MASKED,
        nodes=error.nodes,
        path=error.path,
        extensions={"code": "INTERNAL_ERROR", "requestId": request_id},
    )


def public(error: GraphQLError) -> GraphQLError:
    return error if is_intended(error) else masked(error)


class GuardedOperation(MaskErrors):
    """What the lean entry does around execution, for operations Strawberry's view runs
    (websockets): variables PostgreSQL cannot store are refused before anything runs,
    business errors carry their code, unexpected ones are masked with a request id. One
    extension, not three: a live subscription keeps its extensions for its lifetime."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not is_intended(error))

    def on_execute(self) -> Iterator[None]:
        refused = variables_error(self.execution_context.variables)
        if refused is not None:
            raise refused
        yield
        errors = getattr(self.execution_context.result, "errors", None)
        if errors:
            with_codes(errors)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return masked(error)
