"""The typed per-request context every resolver reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.messaging.live import LiveHub
from services.platform.auth import Principal
from services.platform.deps import Deps
from services.platform.rate_limits import RateLimiter, Refusal


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

    def user(self) -> Principal:
        """The signed-in principal; permission classes guarantee it exists."""
        assert self.principal is not None, "resolver reached without an IsAuthenticated check"
        return self.principal
