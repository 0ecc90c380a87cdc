"""Refuses text PostgreSQL cannot store at the GraphQL edge, once for every operation:
string literals in the document (a validation rule, so the verdict is cached with the
document) and variables (checked before execution: by the lean entry on HTTP, by
schema.errors.GuardedOperation on websockets). The
error is a coded INVALID_INPUT naming the argument or variable; nothing runs."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule

from services.common.text import unstorable_message, unstorable_path


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
