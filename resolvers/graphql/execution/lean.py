"""A lean entry for the common cases, POST /graphql with a JSON body and GET /graphql
with a persisted-query hash: documents come from the shared, byte-bounded cache, and
graphql-core executes them on the Strawberry schema (the same resolvers, permission
classes and context). Everything else (GraphiQL, other content types, websockets) goes
to the Strawberry view.

It keeps what the view's extensions do on this path: the token limit, the depth, alias
and text rules (and no introspection in production), unstorable variables refused,
coded business errors, and unexpected errors masked with a request id.

It also speaks Apollo's automatic persisted queries: a client may send
`extensions.persistedQuery.sha256Hash` instead of the document; an unknown hash is
answered with PERSISTED_QUERY_NOT_FOUND, and the client sends document and hash once.
A hash alone may come by GET (Apollo's `useGETForHashedQueries`) for queries, never for
mutations.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from inspect import isawaitable
from typing import Any

import orjson
import strawberry
from graphql import DocumentNode, GraphQLError, OperationType, execute, get_operation_ast
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from resolvers.graphql.execution.direct import Plans, execute_plan
from resolvers.graphql.view import GraphQLView
from schema.build import DocumentCache
from schema.errors import public, variables_error, with_codes

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
NO_STORE = {"Cache-Control": "no-store"}
NOT_FOUND = {
    "message": "PersistedQueryNotFound",
    "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
}


class BadRequest(Exception):
    """Not a GraphQL request we run: a JSON error body with this status."""

    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def _persisted_hash(extensions: object) -> str | None:
    """The APQ hash the request names, if any."""
    if extensions is None:
        return None
    if not isinstance(extensions, dict):
        raise BadRequest("The extensions must be an object")
    persisted = extensions.get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise BadRequest("Unsupported persistedQuery (version 1 is)")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest):
        raise BadRequest("persistedQuery.sha256Hash must be 64 lowercase hex digits")
    return digest


class PersistedQueries:
    """sha256 -> document text, the most recently used kept within `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._texts: OrderedDict[str, str] = OrderedDict()

    def __contains__(self, digest: object) -> bool:
        return digest in self._texts

    def get(self, digest: str) -> str | None:
        text = self._texts.get(digest)
        if text is not None:
            self._texts.move_to_end(digest)
        return text

    def remember(self, digest: str, text: str) -> None:
        if digest in self._texts or len(text) > self.max_bytes // 4:
            return
        self._texts[digest] = text
        self.bytes += len(text) + len(digest)
        while self.bytes > self.max_bytes:
            old_digest, old_text = self._texts.popitem(last=False)
            self.bytes -= len(old_text) + len(old_digest)


class LeanGraphQL:
    def __init__(
        self,
        view: GraphQLView,
        schema: strawberry.Schema,
        documents: DocumentCache,
        *,
        persisted_bytes: int,
    ) -> None:
        self.view = view
        self.schema = schema._schema
        self.documents = documents
        self.persisted = PersistedQueries(persisted_bytes)
        self.plans = Plans(self.schema)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._handles(scope):
            await self.view(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self._answer(request)
        except BadRequest as error:
            body = {"data": None, "errors": [_coded(str(error), "BAD_REQUEST")]}
            response = _json(body, error.status, error.headers)
        await response(scope, receive, send)

    @staticmethod
    def _handles(scope: Scope) -> bool:
        if scope["type"] != "http":
            return False
        if scope["method"] == "GET":  # the GraphiQL page (no parameters) stays with the view
            query_string: bytes = scope.get("query_string", b"")
            return b"extensions=" in query_string or b"query=" in query_string
        if scope["method"] != "POST":
            return False
        for name, value in scope["headers"]:
            if name == b"content-type":
                return bool(value.split(b";")[0].strip() == b"application/json")
        return False

    async def _answer(self, request: Request) -> Response:
        is_get = request.method == "GET"
        body = _query_params(request) if is_get else await _json_body(request)
        variables, operation = body.get("variables"), body.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            raise BadRequest("The variables must be an object")
        if operation is not None and not isinstance(operation, str):
            raise BadRequest("The operation name must be a string")
        digest = _persisted_hash(body.get("extensions"))
        if is_get and digest is None:
            raise BadRequest("GET /graphql takes a persisted-query hash; send documents by POST")
        query = self._document_for(body.get("query"), digest)
        cache_control = _cache_control(request, is_get)
        if query is None:
            return _json({"data": None, "errors": [NOT_FOUND]}, headers=NO_STORE)
        document, errors = self.documents.prepare(query)
        if document is None:
            return _json({"data": None, "errors": [e.formatted for e in errors]})
        _check_operation(document, operation, is_get)
        if digest is not None and digest not in self.persisted:
            self.persisted.remember(digest, self.documents.canonical_text(query))
        refused = variables_error(variables)
        if refused is not None:
            return _json({"data": None, "errors": [refused.formatted]})
        context = await self.view.get_context(request, Response())
        plan = self.plans.get(document, operation)
        result: Any
        if plan is not None:  # one root field selecting leaves: no executor needed
            result = await execute_plan(plan, self.schema, variables, context)
        else:
            result = execute(
                self.schema,
                document,
                context_value=context,
                variable_values=variables,
                operation_name=operation,
                executor_class=StrawberryGraphQLCoreExecutionContext,
            )
            if isawaitable(result):
                result = await result
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [public(error).formatted for error in with_codes(result.errors)]
            cache_control = NO_STORE if cache_control else cache_control
        return _json(payload, headers=cache_control)

    def _document_for(self, query: object, digest: str | None) -> str | None:
        """The document to run: sent, or remembered under its APQ hash (None: unknown)."""
        if query is not None and (not isinstance(query, str) or not query):
            raise BadRequest("No GraphQL query found in the request")
        if digest is None:
            if query is None:
                raise BadRequest("No GraphQL query found in the request")
            return query
        if query is None:
            return self.persisted.get(digest)
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise BadRequest("provided sha does not match query")
        return query


def _check_operation(document: DocumentNode, name: str | None, is_get: bool) -> None:
    """Subscriptions need a websocket; mutations never run from a GET (a link or an
    image tag must not change anything)."""
    operation = get_operation_ast(document, name)
    if operation is None:
        return  # graphql-core reports the missing or ambiguous operation itself
    if operation.operation is OperationType.SUBSCRIPTION:
        raise BadRequest(
            "subscriptions need a websocket: connect to /graphql with graphql-transport-ws"
        )
    if is_get and operation.operation is OperationType.MUTATION:
        raise BadRequest("mutations need POST", 405, {"Allow": "POST"})


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BadRequest("Unable to parse request body as JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    return body


def _query_params(request: Request) -> dict[str, Any]:
    """A GET request's fields; `variables` and `extensions` are JSON in the URL."""
    params = request.query_params
    body: dict[str, Any] = {
        "query": params.get("query"),
        "operationName": params.get("operationName"),
    }
    for name in ("variables", "extensions"):
        raw = params.get(name)
        if raw:
            try:
                body[name] = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise BadRequest(f"The {name} parameter is not JSON") from None
    return body


def _cache_control(request: Request, is_get: bool) -> dict[str, str]:
    """A GET answer may sit in a cache: never one that depends on the caller's token."""
    if not is_get:
        return {}
    if "authorization" in request.headers:
        return {"Cache-Control": "private, no-store"}
    return {"Cache-Control": "public, max-age=60"}


def _coded(message: str, code: str) -> dict[str, Any]:
    return GraphQLError(message, extensions={"code": code}).formatted  # type: ignore[return-value]


def _json(
    payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")
