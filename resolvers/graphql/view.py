"""The /graphql endpoint: Strawberry's ASGI view with our typed context and orjson,
over HTTP and websockets (graphql-transport-ws and the legacy graphql-ws)."""

from __future__ import annotations

from typing import Any

import orjson
import strawberry
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType

from resolvers.graphql import discounts, usage
from resolvers.graphql.ws_session import (
    BoundedTextFrames,
    GuardedLegacyWS,
    GuardedTransportWS,
    SessionGuards,
)
from resolvers.http.pages import graphiql_headers, graphiql_html
from schema.context import Context
from services.clocks import control as clocks
from services.messaging.live import LiveHub
from services.platform.auth import AuthError, TokenVerifier
from services.platform.deps import Deps
from services.platform.rate_limits import Limit, RateLimiter, Refusal

TRY_AGAIN_LATER = 1013


class _TypeFields:
    """The types' field resolvers (schema/context.py TypeFields), handed to every context."""

    plan_quotas = staticmethod(usage.plan_quotas)
    usage_of_user = staticmethod(usage.usage_of_user)
    subscription_discount = staticmethod(discounts.subscription_discount)


TYPE_FIELDS = _TypeFields()


class GraphQLView(GraphQL[Context, None]):
    websocket_adapter_class = BoundedTextFrames
    graphql_transport_ws_handler_class = GuardedTransportWS
    graphql_ws_handler_class = GuardedLegacyWS

    def __init__(
        self,
        schema: strawberry.Schema,
        deps: Deps,
        verifier: TokenVerifier,
        hub: LiveHub,
        limiter: RateLimiter,
        **options: Any,
    ) -> None:
        super().__init__(schema, **options)
        self.deps = deps
        self.verifier = verifier
        self.hub = hub
        self.limiter = limiter
        self.max_message_bytes = deps.settings.max_body_bytes
        self.guards = SessionGuards(
            deps.settings.websocket_keepalive_seconds, deps.settings.websocket_pong_timeout_seconds
        )

    @property
    def graphql_ide_html(self) -> str:
        """GraphiQL with its assets served by the service (it works offline)."""
        return graphiql_html()

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self.graphql_ide_html, headers=graphiql_headers())

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        principal, problem, refusal = None, None, None
        try:
            principal = self.verifier.verify_header(request.headers.get("authorization"))
        except AuthError as error:
            problem = str(error)
            refusal = await self._failed_authentication(request.scope)
        # A customer on a test clock is served at its time (test clocks on only).
        deps = await clocks.deps_for(self.deps, principal.user_id if principal else None)
        return Context(
            deps,
            request,
            response,
            principal,
            problem,
            live=self.hub,
            limiter=self.limiter,
            auth_refusal=refusal,
            fields=TYPE_FIELDS,
        )

    async def _failed_authentication(self, scope: Scope) -> Refusal | None:
        return await self.limiter.hit_address(Limit.AUTH_FAILURES, scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            refusal = await self.limiter.hit_address(Limit.WEBSOCKET_CONNECTS, scope)
            if refusal is not None:
                await _deny(WebSocket(scope, receive, send), refusal)
                return
        await super().__call__(scope, receive, send)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Browsers cannot set headers on a websocket: the token comes in connection_init
        as {"Authorization": "Bearer <jwt>"} (any letter case). No valid token, no
        connection: the protocol's rejection close code (4403 on graphql-transport-ws)."""
        params = context.connection_params or {}
        header = next(
            (v for k, v in params.items() if isinstance(k, str) and k.lower() == "authorization"),
            None,
        )
        if not isinstance(header, str):
            header = None
        try:
            principal = self.verifier.verify_header(header) or context.principal
        except AuthError as error:
            refusal = await self._failed_authentication(context.request.scope)
            message = refusal.message if refusal else str(error)
            raise ConnectionRejectionError({"message": message}) from error
        if principal is None:
            raise ConnectionRejectionError({"message": "send Authorization in connection_init"})
        context.principal, context.auth_error = principal, None
        return None

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


async def _deny(websocket: WebSocket, refusal: Refusal) -> None:
    """Close with 1013 (try again later) and the wait in the reason. An HTTP 429 before
    the handshake would be neater, but uvicorn logs an error for every such answer."""
    await websocket.accept(subprotocol=_first_subprotocol(websocket))
    await websocket.close(code=TRY_AGAIN_LATER, reason=refusal.message)


def _first_subprotocol(websocket: WebSocket) -> str | None:
    offered = websocket.scope.get("subprotocols") or []
    return next((p for p in offered if p in ("graphql-transport-ws", "graphql-ws")), None)
