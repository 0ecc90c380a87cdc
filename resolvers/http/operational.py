"""Liveness, readiness, the caller's identity, and Prometheus metrics."""

from __future__ import annotations

import hmac
import logging

from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers.http.rest import endpoint, principal
from resolvers.http.rest_json import error_body, json_response
from services.app.health import Backlog, database_checks, read_backlog
from services.platform.deps import Deps

log = logging.getLogger(__name__)
UNPUBLISHED = Gauge("outbox_unpublished_events", "Outbox events the relay has not published")
UNPUBLISHED_AGE = Gauge(
    "outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished outbox event"
)
OVERDUE = Gauge(
    "lifecycle_oldest_overdue_seconds",
    "How late the most overdue renewal, retry, expiry or trial conversion is",
)
WAITING_CHARGES = Gauge(
    "charges_waiting_for_gateway", "Due charges the payment gateway could not take, queued"
)
WAITING_CHARGE_AGE = Gauge(
    "charges_waiting_for_gateway_oldest_seconds", "How long the oldest queued charge has waited"
)
HEARTBEAT = Gauge(
    "worker_loop_last_heartbeat_timestamp_seconds",
    "When each worker loop last finished a round (Unix time)",
    ["loop"],
)

GROUPED_BATCHES = Gauge(
    "usage_group_commit_batches", "Group commits of usage calls this process ran since it started"
)
GROUPED_CALLS = Gauge(
    "usage_group_commit_calls", "Usage calls decided in group commits since the process started"
)


def observe_backlog(backlog: Backlog) -> None:
    UNPUBLISHED.set(backlog.unpublished_events)
    UNPUBLISHED_AGE.set(backlog.oldest_unpublished_seconds)
    OVERDUE.set(backlog.oldest_overdue_seconds)
    WAITING_CHARGES.set(backlog.charges_waiting)
    WAITING_CHARGE_AGE.set(backlog.oldest_charge_wait_seconds)
    for loop, at in backlog.heartbeats.items():
        HEARTBEAT.labels(loop).set(at.timestamp())


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readiness(request: Request) -> Response:
    """Ready when the database answers and its schema is at the newest migration."""
    deps: Deps = request.app.state.deps
    checks = await database_checks(deps)
    ready = all(value == "ok" for value in checks.values())
    redis = request.app.state.redis
    if redis is not None:
        # Reads fall back to PostgreSQL without Redis: degraded, not down.
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except (RedisError, OSError) as error:
            checks["redis"] = f"degraded: {type(error).__name__}"
    body: dict[str, object] = {"checks": checks}
    reasons: list[str] = []
    if ready:
        backlog = await read_backlog(deps)
        reasons = backlog.stalls
        body["backlog"] = {
            "unpublishedEvents": backlog.unpublished_events,
            "oldestUnpublishedSeconds": round(backlog.oldest_unpublished_seconds, 1),
            "oldestOverdueSeconds": round(backlog.oldest_overdue_seconds, 1),
            "chargesWaitingForGateway": backlog.charges_waiting,
            "oldestChargeWaitSeconds": round(backlog.oldest_charge_wait_seconds, 1),
            "workerHeartbeats": {
                loop: at.isoformat() for loop, at in sorted(backlog.heartbeats.items())
            },
        }
        checks["worker"] = "ok" if not reasons else "degraded: stalled"
    status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    body = {"status": status if ready else "unavailable", **body}
    if reasons:
        body["reasons"] = reasons
    return json_response(body, 200 if ready else 503)


@endpoint
async def current_user(request: Request) -> Response:
    user = await principal(request)
    return json_response({"userId": user.user_id, "roles": sorted(r.value for r in user.roles)})


async def metrics(request: Request) -> Response:
    deps: Deps = request.app.state.deps
    token = deps.settings.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return json_response(error_body("UNAUTHENTICATED", "send the METRICS_TOKEN"), 401)
    try:
        observe_backlog(await read_backlog(deps))
    except Exception as error:
        log.warning("backlog gauges not refreshed: %r", error)
    if deps.usage_commits is not None:
        GROUPED_BATCHES.set(deps.usage_commits.batches)
        GROUPED_CALLS.set(deps.usage_commits.calls)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/admin/health", readiness, methods=["GET"]),
    Route("/currentuser", current_user, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
