"""The seed's REST surface (/api/v1/subscriptions/...) over the same use cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers.http.rest_json import error_body, error_response, json_response, ready_json_response
from services.clocks import control as clocks
from services.common.errors import DomainError, ErrorCode
from services.common.text import unstorable_message, unstorable_path
from services.platform.auth import AuthError, Principal, TokenVerifier, check_user_id
from services.platform.deps import Deps
from services.platform.rate_limits import Limit, RateLimiter, Refusal
from services.pricing import catalog
from services.reads import events as event_reads
from services.reads import queries
from services.subscriptions import interruptions, plan_changes
from services.subscriptions.views import ChargeOutcomeResult
from services.usage import batches, metering


class Refused(Exception):
    """Not allowed to run: unauthenticated, forbidden or rate limited."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after

    @classmethod
    def rate_limited(cls, refusal: Refusal) -> Refused:
        return cls(429, "RATE_LIMITED", refusal.message, refusal.retry_after_seconds)

    def response(self) -> Response:
        response = json_response(error_body(self.code, self.message), self.status)
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(self.retry_after)
        return response


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


async def principal(request: Request) -> Principal:
    verifier: TokenVerifier = request.app.state.verifier
    try:
        found = verifier.verify_header(request.headers.get("authorization"))
    except AuthError as error:
        limiter: RateLimiter = request.app.state.limiter
        refusal = await limiter.hit_address(Limit.AUTH_FAILURES, request.scope)
        if refusal is not None:
            raise Refused.rate_limited(refusal) from error
        raise Refused(401, "UNAUTHENTICATED", str(error)) from error
    if found is None:
        raise Refused(401, "UNAUTHENTICATED", "sign in: send 'Authorization: Bearer <token>'")
    return found


async def mutating(request: Request) -> Principal:
    """The signed-in caller of a state-changing route, within their rate limit."""
    user = await principal(request)
    limiter: RateLimiter = request.app.state.limiter
    refusal = await limiter.hit(Limit.MUTATIONS, user.user_id)
    if refusal is not None:
        raise Refused.rate_limited(refusal)
    return user


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise DomainError(ErrorCode.INVALID_INPUT, "body is not valid JSON") from error
    if not isinstance(body, dict):
        raise DomainError(ErrorCode.INVALID_INPUT, "body must be a JSON object")
    _storable(body)
    return body


def _storable(value: object, where: str = "") -> None:
    unstorable = unstorable_path(value, where)
    if unstorable is not None:
        raise DomainError(ErrorCode.INVALID_INPUT, unstorable_message(unstorable), unstorable)


def _positive_int(raw: str, name: str) -> int:
    """Digits 0-9 only ('²' and '١٠' are digits to str.isdigit, not to a client)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6 or int(raw) < 1:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{name} must be a positive integer", name)
    return int(raw)


def _string(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise DomainError(ErrorCode.INVALID_INPUT, f"{key} must be a string", key)
    return value


def _charged(result: ChargeOutcomeResult) -> Response:
    body = {"subscription": result.subscription, "payment": result.payment}
    if result.errors:
        first = result.errors[0]
        body |= error_body(first.code.value, first.message, first.field)
        return json_response(body, 402 if first.code is ErrorCode.PAYMENT_DECLINED else 409)
    return json_response(body)


def endpoint(handler: Any) -> Any:
    """Turn auth failures and business errors into JSON error responses."""

    async def wrapped(request: Request) -> Response:
        try:
            response: Response = await handler(request)
        except Refused as error:
            return error.response()
        except DomainError as error:
            return error_response(error)
        return response

    return wrapped


@endpoint
async def my_subscription(request: Request) -> Response:
    user = await principal(request)
    deps = _deps(request)
    view = await queries.subscription_of(deps, user.user_id)
    granted = await queries.entitlements_of(deps, user.user_id)
    return json_response({"subscription": view, "entitlements": granted})


@endpoint
async def upgrade(request: Request) -> Response:
    """The seed's "upgrade to a paid plan": subscribes a free user, upgrades a paid one."""
    user = await mutating(request)
    body = await _json_body(request)
    plan_code = _string(body, "planCode", required=True)
    assert plan_code is not None
    key = request.headers.get("idempotency-key") or _string(body, "idempotencyKey")
    deps = await clocks.deps_for(_deps(request), user.user_id)
    result = await plan_changes.subscribe_or_upgrade(
        deps, user.user_id, plan_code, _string(body, "paymentMethodId"), key
    )
    return _charged(result)


@endpoint
async def cancel(request: Request) -> Response:
    user = await mutating(request)
    body = await _json_body(request)
    at_period_end = body.get("atPeriodEnd", True)
    if not isinstance(at_period_end, bool):
        raise DomainError(ErrorCode.INVALID_INPUT, "atPeriodEnd must be a boolean", "atPeriodEnd")
    command = interruptions.CancelSubscription(user.user_id, at_period_end, _string(body, "reason"))
    view = await interruptions.cancel(await clocks.deps_for(_deps(request), user.user_id), command)
    return json_response({"subscription": view})


@endpoint
async def plans(request: Request) -> Response:
    return json_response({"plans": await catalog.list_plans(_deps(request))})


@endpoint
async def invoices(request: Request) -> Response:
    user = await principal(request)
    first = _positive_int(request.query_params.get("first", "20"), "first")
    after = request.query_params.get("after")
    _storable(after, "after")
    page = await queries.invoices_of(_deps(request), user.user_id, first, after)
    return json_response(
        {
            "invoices": page.items,
            "pageInfo": {"hasNextPage": page.has_next_page, "endCursor": page.end_cursor},
        }
    )


@endpoint
async def status(request: Request) -> Response:
    user_id = request.path_params["user_id"]
    _storable(user_id, "userId")
    caller = await principal(request)
    if not caller.may_read(user_id):
        raise Refused(
            403, "FORBIDDEN", "reading another user's status needs the service or admin role"
        )
    view = await queries.status_of(_deps(request), user_id)
    return json_response(view)


MAX_USAGE_BATCH = 1000


def _usage_event(raw: object, index: int) -> metering.RecordUsage:
    where = f"events.{index}"
    if not isinstance(raw, dict):
        raise DomainError(ErrorCode.INVALID_INPUT, f"{where} must be an object", where)
    quantity = raw.get("quantity", 1)
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise DomainError(ErrorCode.INVALID_INPUT, f"{where}.quantity must be an integer", where)
    occurred = _string(raw, "occurredAt")
    try:
        occurred_at = datetime.fromisoformat(occurred) if occurred else None
    except ValueError as error:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"{where}.occurredAt is not an ISO time", where
        ) from error
    if occurred_at is not None and occurred_at.tzinfo is None:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{where}.occurredAt needs a time zone", where)
    return metering.RecordUsage(
        user_id=check_user_id(_string(raw, "userId", required=True) or "", f"{where}.userId"),
        meter_key=_string(raw, "meterKey", required=True) or "",
        quantity=quantity,
        event_id=_string(raw, "eventId", required=True) or "",
        occurred_at=occurred_at,
        value=_string(raw, "value"),
    )


@endpoint
async def usage(request: Request) -> Response:
    """A batch of up to 1,000 usage events (service role). Each is counted once per
    eventId and answered on its own: one refused event does not refuse the others."""
    caller = await principal(request)
    if not caller.acts_for_anyone:
        raise Refused(403, "FORBIDDEN", "recording usage needs the service or admin role")
    events = (await _json_body(request)).get("events")
    if not isinstance(events, list) or not 0 < len(events) <= MAX_USAGE_BATCH:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"events must be a list of 1 to {MAX_USAGE_BATCH}", "events"
        )
    commands = [_usage_event(raw, index) for index, raw in enumerate(events)]
    results: list[dict[str, Any]] = []
    outcomes = await batches.record_usage_batch(_deps(request), commands)
    for command, outcome in zip(commands, outcomes, strict=True):
        if isinstance(outcome, DomainError):
            results.append(
                {"eventId": command.event_id, "counted": False}
                | error_body(outcome.code.value, outcome.message, outcome.field)
            )
            continue
        results.append(
            {
                "eventId": command.event_id,
                "counted": True,
                "remaining": outcome.remaining,
                "resetsAt": outcome.resets_at,
            }
        )
    return ready_json_response({"results": results})


@endpoint
async def event_log(request: Request) -> Response:
    """The event log for services: `after` (a cursor), `limit` (1 to 100), `types`
    (comma separated); the same cursors as GraphQL's `events`."""
    caller = await principal(request)
    if not caller.acts_for_anyone:
        raise Refused(403, "FORBIDDEN", "reading the event log needs the service or admin role")
    params = request.query_params
    limit = _positive_int(params.get("limit", "100"), "limit")
    types = [kind for kind in params.get("types", "").split(",") if kind]
    query = event_reads.EventQuery(min(limit, 100), params.get("after") or None, types)
    page = await event_reads.read(_deps(request), query)
    data = [
        {"cursor": event_reads.cursor_of(event), "event": event.envelope} for event in page.items
    ]
    return ready_json_response(
        {"data": data, "hasMore": page.has_next_page, "endCursor": page.end_cursor}
    )


routes = [
    Route("/api/v1/events", event_log, methods=["GET"]),
    Route("/api/v1/subscriptions/me", my_subscription, methods=["GET"]),
    Route("/api/v1/subscriptions/upgrade", upgrade, methods=["POST"]),
    Route("/api/v1/subscriptions/cancel", cancel, methods=["POST"]),
    Route("/api/v1/subscriptions/plans", plans, methods=["GET"]),
    Route("/api/v1/subscriptions/invoices", invoices, methods=["GET"]),
    Route("/api/v1/subscriptions/status/{user_id}", status, methods=["GET"]),
    Route("/api/v1/usage", usage, methods=["POST"]),
]
