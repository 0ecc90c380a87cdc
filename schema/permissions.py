"""Who may call what. Failures are GraphQL errors with `extensions.code`
UNAUTHENTICATED (no or bad token) or FORBIDDEN (wrong role)."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.permission import BasePermission

from schema.context import Context
from services.auth import Principal

Info = strawberry.Info[Context, None]


def signed_in_principal(info: Info) -> Principal:
    context = info.context
    if context.principal is None:
        message = context.auth_error or "sign in: send 'Authorization: Bearer <token>'"
        raise GraphQLError(message, extensions={"code": "UNAUTHENTICATED"})
    return context.principal


class IsAuthenticated(BasePermission):
    message = "sign in: send 'Authorization: Bearer <token>'"
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        signed_in_principal(info)
        return True


class IsAdmin(BasePermission):
    message = "this operation needs the admin role"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return signed_in_principal(info).is_admin


class IsServiceOrAdmin(BasePermission):
    message = "this lookup needs the service or admin role"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = signed_in_principal(info)
        return principal.is_admin or principal.is_service
