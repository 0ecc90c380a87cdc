"""Who may call what. Failures are GraphQL errors with `extensions.code`
UNAUTHENTICATED (no or bad token) or FORBIDDEN (wrong role)."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.permission import BasePermission

from schema.context import Context
from services.platform.auth import Principal
from services.platform.rate_limits import Limit, Refusal

Info = strawberry.Info[Context, None]


def rate_limited(refusal: Refusal) -> GraphQLError:
    return GraphQLError(
        refusal.message,
        extensions={"code": "RATE_LIMITED", "retryAfterSeconds": refusal.retry_after_seconds},
    )


def signed_in_principal(info: Info) -> Principal:
    context = info.context
    if context.auth_refusal is not None:
        raise rate_limited(context.auth_refusal)
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


class IsSelfServiceOrAdmin(BasePermission):
    """A lookup by `userId`: anyone may read their own; other users' need a role."""

    message = "reading another user's status needs the service or admin role"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal, user_id = signed_in_principal(info), kwargs.get("user_id")
        return (
            principal.may_read(user_id) if isinstance(user_id, str) else principal.acts_for_anyone
        )


class IsOwnOrAdmin(BasePermission):
    """Your own records by default; another user's (`userId`) only for admins."""

    message = "reading another user's records needs the admin role"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal, user_id = signed_in_principal(info), kwargs.get("user_id")
        return user_id is None or user_id == principal.user_id or principal.is_admin


class IsServiceOrAdmin(BasePermission):
    """Calls other services make (counting usage for any user)."""

    message = "this operation needs the service or admin role"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return signed_in_principal(info).acts_for_anyone


class WithinMutationRate(BasePermission):
    """Counts a mutation against its caller's limit (RATE_LIMITED past it). Listed after
    the role check, so only signed-in callers are counted."""

    message = "rate limited"

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        limiter = info.context.limiter
        if limiter is None:
            return True
        refusal = await limiter.hit(Limit.MUTATIONS, signed_in_principal(info).user_id)
        if refusal is not None:
            raise rate_limited(refusal)
        return True
