"""A lean entry for the common case, POST /graphql with a JSON body: parse and validate
each distinct document once, then execute it with graphql-core on the Strawberry schema
(the same resolvers, permission classes and context). Everything else (GraphiQL on GET,
other content types, websockets) goes to the Strawberry view.

It keeps what the view's extensions do on this path: the token limit, the depth and
alias rules (and no introspection in production), coded business errors, and masking of
unexpected errors in production.

It also speaks Apollo's automatic persisted queries: a client may send
`extensions.persistedQuery.sha256Hash` instead of the document; an unknown hash is
answered with PERSISTED_QUERY_NOT_FOUND, and the client sends document and hash once.
Each process remembers the last 1,024 valid documents it was given (a process that does
not know a hash asks for it again).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from inspect import isawaitable
from typing import Any

import orjson
import strawberry
from graphql import DocumentNode, GraphQLError, execute, parse, validate
from graphql.validation import ASTValidationRule, specified_rules
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from resolvers.graphql_view import GraphQLView
from schema.errors import is_intended, with_codes

log = logging.getLogger(__name__)
DOCUMENTS = 1024
MASKED = "Unexpected error."
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
NOT_FOUND = {
    "message": "PersistedQueryNotFound",
    "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
}


class BadRequest(Exception):
    """The body is not a GraphQL request: 400 with this text."""


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


class LeanGraphQL:
    def __init__(
        self,
        view: GraphQLView,
        schema: strawberry.Schema,
        rules: list[type[ASTValidationRule]],
        *,
        max_tokens: int,
        mask_errors: bool,
    ) -> None:
        """`mask_errors` (production): unexpected errors and field suggestions are hidden."""
        self.view = view
        self.schema = schema._schema
        self.rules = [*specified_rules, *rules]
        self.max_tokens = max_tokens
        self.mask_errors = mask_errors
        self._documents: OrderedDict[str, tuple[DocumentNode | None, list[GraphQLError]]] = (
            OrderedDict()
        )
        self._persisted: OrderedDict[str, str] = OrderedDict()  # sha256 -> document

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._handles(scope):
            await self.view(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self._answer(request)
        await response(scope, receive, send)

    @staticmethod
    def _handles(scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST":
            return False
        for name, value in scope["headers"]:
            if name == b"content-type":
                return bool(value.split(b";")[0].strip() == b"application/json")
        return False

    def _prepare(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        """Parse and validate once per distinct document (an LRU of the last 1,024)."""
        found = self._documents.get(query)
        if found is not None:
            self._documents.move_to_end(query)
            return found
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError as error:
            prepared: tuple[DocumentNode | None, list[GraphQLError]] = (None, [error])
        else:
            errors = validate(self.schema, document, self.rules, hide_suggestions=self.mask_errors)
            prepared = (None if errors else document, list(errors))
        self._documents[query] = prepared
        if len(self._documents) > DOCUMENTS:
            self._documents.popitem(last=False)
        return prepared

    def _document_for(self, query: object, digest: str | None) -> str | None:
        """The document to run: sent, or remembered under its APQ hash (None: unknown)."""
        if query is not None and (not isinstance(query, str) or not query):
            raise BadRequest("No GraphQL query found in the request")
        if digest is None:
            if query is None:
                raise BadRequest("No GraphQL query found in the request")
            return query
        if query is None:
            remembered = self._persisted.get(digest)
            if remembered is not None:
                self._persisted.move_to_end(digest)
            return remembered
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise BadRequest("provided sha does not match query")
        return query

    def _remember(self, digest: str, query: str) -> None:
        self._persisted[digest] = query
        self._persisted.move_to_end(digest)
        if len(self._persisted) > DOCUMENTS:
            self._persisted.popitem(last=False)

    async def _answer(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return Response("Unable to parse request body as JSON", 400)
        if not isinstance(body, dict):
            return Response("The request body must be a JSON object", 400)
        variables, operation = body.get("variables"), body.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            return Response("The variables must be an object", 400)
        if operation is not None and not isinstance(operation, str):
            return Response("The operation name must be a string", 400)
        try:
            digest = _persisted_hash(body.get("extensions"))
            query = self._document_for(body.get("query"), digest)
        except BadRequest as error:
            return Response(str(error), 400)
        if query is None:
            return self._json({"data": None, "errors": [NOT_FOUND]})
        document, errors = self._prepare(query)
        if document is None:
            return self._json({"data": None, "errors": [e.formatted for e in errors]})
        if digest is not None:
            self._remember(digest, query)
        context = await self.view.get_context(request, Response())
        result: Any = execute(
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
            payload["errors"] = [
                self._public(error).formatted for error in with_codes(result.errors)
            ]
        return self._json(payload)

    def _public(self, error: GraphQLError) -> GraphQLError:
        if is_intended(error):
            return error
        log.error("unexpected error in %s", error.path, exc_info=error.original_error)
        if not self.mask_errors:
            return error
        return GraphQLError(MASKED, nodes=error.nodes, path=error.path)

    @staticmethod
    def _json(payload: dict[str, Any]) -> Response:
        return Response(orjson.dumps(payload), media_type="application/json")
