"""The baseline: plain Starlette routes that do the same reads with asyncpg and return
the same JSON as the service, with the same bearer token check (PyJWT).

    python -m bench.baseline --port 8100 --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import jwt
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.platform.config import Settings
from services.platform.heap import settle_heap

SUBSCRIPTION_SQL = """
SELECT s.id, s.status, s.current_period_end, s.cancel_at_period_end, s.grace_expires_at,
       p.code, p.name, p.price_cents, p.currency, p.entitlements, p.grace_entitlements
FROM subscriptions s JOIN plans p ON p.id = s.plan_id
WHERE s.user_id = $1 AND s.is_current
"""
FREE_SQL = "SELECT code, entitlements FROM plans WHERE code = 'free'"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _features(row: asyncpg.Record | None, free: asyncpg.Record) -> tuple[str, list[str]]:
    now = datetime.now(UTC)
    if row is None:
        return free["code"], list(free["entitlements"])
    if row["status"] in ("TRIALING", "ACTIVE") or (
        row["status"] == "CANCELED"
        and row["current_period_end"]
        and now < row["current_period_end"]
    ):
        return row["code"], list(row["entitlements"])
    if row["status"] == "PAST_DUE":
        return row["code"], list(row["grace_entitlements"])
    if row["status"] == "SUSPENDED":
        return "suspended", []
    return free["code"], list(free["entitlements"])


async def _keep_session(connection: asyncpg.Connection) -> None:
    pass


def build(database_url: str) -> Starlette:
    settings = Settings()
    secret = settings.hs256_secret
    pool: asyncpg.Pool | None = None

    def user_of(request: Request) -> str:
        token = request.headers["authorization"].removeprefix("Bearer ")
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )
        return str(claims["sub"])

    async def subscription(request: Request) -> Response:
        user = user_of(request)
        assert pool is not None
        async with pool.acquire() as connection:
            row = await connection.fetchrow(SUBSCRIPTION_SQL, user)
            free = await connection.fetchrow(FREE_SQL)
        if row is None:
            return Response(
                orjson.dumps({"data": {"mySubscription": None}}), media_type="application/json"
            )
        tier, features = _features(row, free)
        body = {
            "data": {
                "mySubscription": {
                    "id": str(row["id"]),
                    "status": row["status"],
                    "currentPeriodEnd": _iso(row["current_period_end"]),
                    "cancelAtPeriodEnd": row["cancel_at_period_end"],
                    "plan": {
                        "code": row["code"],
                        "name": row["name"],
                        "priceCents": row["price_cents"],
                        "currency": row["currency"],
                    },
                    "entitlements": {"tier": tier, "features": features},
                }
            }
        }
        return Response(orjson.dumps(body), media_type="application/json")

    async def entitlements(request: Request) -> Response:
        user = request.path_params.get("user_id") or user_of(request)
        if "user_id" in request.path_params:
            user_of(request)  # the caller is still authenticated
        assert pool is not None
        async with pool.acquire() as connection:
            row = await connection.fetchrow(SUBSCRIPTION_SQL, user)
            free = await connection.fetchrow(FREE_SQL)
        tier, features = _features(row, free)
        body = {"data": {"entitlements": {"userId": user, "tier": tier, "features": features}}}
        return Response(orjson.dumps(body), media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        # The same pool setting as the service's plain pool: no RESET ALL round trip on
        # release (these reads set no session state).
        pool = await asyncpg.create_pool(
            database_url, min_size=10, max_size=10, reset=_keep_session
        )
        yield
        await pool.close()

    return Starlette(
        routes=[
            Route("/raw/subscription", subscription),
            Route("/raw/entitlements", entitlements),
            Route("/raw/entitlements/{user_id}", entitlements),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    app = build(args.database_url)
    settle_heap()  # the same GC settings as `main.py serve`
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
