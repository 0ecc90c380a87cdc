"""The typed per-request context every resolver reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from services.messaging.live import LiveHub
from services.platform.auth import Principal
from services.platform.deps import Deps
from services.platform.rate_limits import RateLimiter, Refusal

if TYPE_CHECKING:
    from schema.types import Discount, MeterUsage, PlanQuota


class TypeFields(Protocol):
    """The field resolvers some types need. resolvers/ provides them through the context,
    so the types never import the resolvers (which import the types)."""

    async def plan_quotas(self, info: Any, plan_id: str | None, plan_code: str) -> list[PlanQuota]:
        """What a plan includes of each meter."""

    async def usage_of_user(self, info: Any, user_id: str) -> list[MeterUsage]:
        """A user's usage of each meter their plan includes."""

    async def subscription_discount(self, info: Any, subscription_id: str) -> Discount | None:
        """The coupon a subscription carries now."""


@dataclass
class Context:
    deps: Deps
    request: Any  # starlette Request or WebSocket
    response: Any
    principal: Principal | None
    auth_error: str | None = None
    live: LiveHub | None = None
    connection_params: dict[str, object] | None = None  # websocket connection_init payload
    limiter: RateLimiter | None = None
    auth_refusal: Refusal | None = None  # this address failed to authenticate too often
    fields: TypeFields | None = None  # the types' own field resolvers

    def user(self) -> Principal:
        """The signed-in principal; permission classes guarantee it exists."""
        assert self.principal is not None, "resolver reached without an IsAuthenticated check"
        return self.principal

    def type_fields(self) -> TypeFields:
        assert self.fields is not None, "the view builds every context with its type fields"
        return self.fields
