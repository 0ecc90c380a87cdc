"""Business errors raised while answering a query become GraphQL errors that carry
`extensions.code` (and `field`), so resolvers just call the service.

Text PostgreSQL cannot store is refused at the edge, once for every operation: string
literals in the document (a validation rule, so the verdict is cached with the
document) and variables (checked before execution: by the lean entry on HTTP, by
GuardedOperation on websockets). The error is a coded INVALID_INPUT naming the argument
or variable; nothing runs."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule
from strawberry.extensions import MaskErrors

from services.common.errors import DomainError
from services.common.text import unstorable_message, unstorable_path

log = logging.getLogger(__name__)
MASKED = "Unexpected error."


def invalid_input(message: str, field: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "INVALID_INPUT", "field": field})


class NoUnstorableText(ValidationRule):
    """String literals holding a NUL character."""

    def enter_string_value(self, node: StringValueNode, *args: Any) -> None:
        if "\x00" not in node.value:
            return
        # visitor arguments: key, parent, path, ancestors; the nearest named one names it
        parent = args[1] if len(args) > 1 else None
        ancestors = [*(args[3] if len(args) > 3 else []), parent]
        names = [a.name.value for a in ancestors if getattr(a, "name", None) is not None]
        field = names[-1] if names else "input"
        self.report_error(
            GraphQLError(
                unstorable_message(field),
                node,
                extensions={"code": "INVALID_INPUT", "field": field},
            )
        )


def variables_error(variables: dict[str, Any] | None) -> GraphQLError | None:
    """An INVALID_INPUT error naming the first variable that cannot be stored."""
    if not variables:
        return None
    path = unstorable_path(variables)
    return None if path is None else invalid_input(unstorable_message(path), path)


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
