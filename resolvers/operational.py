"""Liveness, readiness, the caller's identity, and Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers.rest import endpoint, principal
from resolvers.rest_json import json_response
from services.deps import Deps
from services.migrate import current_revision, head_revision

HEAD = head_revision()


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readiness(request: Request) -> Response:
    """Ready when the database answers and its schema is at the newest migration."""
    deps: Deps = request.app.state.deps
    checks: dict[str, str] = {}
    try:
        async with deps.session_factory() as session:
            await session.execute(text("SELECT 1"))
            connection = await session.connection()
            revision = await connection.run_sync(current_revision)
        checks["database"] = "ok"
        checks["migrations"] = "ok" if revision == HEAD else f"at {revision}, head is {HEAD}"
    except Exception as error:  # any failure means not ready; say which
        checks["database"] = f"down: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    redis = request.app.state.redis
    if redis is not None:
        # Reads fall back to PostgreSQL without Redis: degraded, not down.
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except (RedisError, OSError) as error:
            checks["redis"] = f"degraded: {type(error).__name__}"
    status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    body = {"status": status if ready else "unavailable", "checks": checks}
    return json_response(body, 200 if ready else 503)


@endpoint
async def current_user(request: Request) -> Response:
    user = await principal(request)
    return json_response({"userId": user.user_id, "roles": sorted(r.value for r in user.roles)})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/admin/health", readiness, methods=["GET"]),
    Route("/currentuser", current_user, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
