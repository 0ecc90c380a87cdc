"""The /graphql endpoint: Strawberry's ASGI view with our typed context and orjson."""

from __future__ import annotations

from typing import Any

import orjson
import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from schema.context import Context
from services.auth import AuthError, TokenVerifier
from services.deps import Deps


class GraphQLView(GraphQL[Context, None]):
    def __init__(
        self, schema: strawberry.Schema, deps: Deps, verifier: TokenVerifier, **options: Any
    ) -> None:
        super().__init__(schema, **options)
        self.deps = deps
        self.verifier = verifier

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        principal, problem = None, None
        try:
            principal = self.verifier.verify_header(request.headers.get("authorization"))
        except AuthError as error:
            problem = str(error)
        return Context(self.deps, request, response, principal, problem)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)
