"""Rate limits per user and per address, shared by every API process through Redis
(in-process without `REDIS_URL`), counted by the `limits` library.

A person never meets the defaults; a script hammering one account or address does. A
Redis outage must not take the API down: the limiter then lets requests through and
skips Redis for a few seconds, as the access cache does.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from services.platform.config import Settings

log = logging.getLogger(__name__)
COOL_OFF_SECONDS = 5.0


class Limit(StrEnum):
    MUTATIONS = "mutations"  # per user
    AUTH_FAILURES = "auth-failures"  # per client address
    WEBSOCKET_CONNECTS = "websocket-connects"  # per client address
    WEBHOOKS = "webhooks"  # per client address


@dataclass(frozen=True)
class Refusal:
    limit: Limit
    retry_after_seconds: int

    @property
    def message(self) -> str:
        return f"too many {self.limit.value.replace('-', ' ')}: retry after {self.retry_after_seconds} s"


def _storage(settings: Settings) -> Storage:
    if not settings.redis_url:
        return MemoryStorage()
    return RedisStorage(
        f"async+{settings.redis_url}",
        implementation="redispy",
        key_prefix=f"{settings.redis_prefix}:rate",
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds * 10,
    )


class RateLimiter:
    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self.enabled = settings.rate_limits
        self._limiter = FixedWindowRateLimiter(storage or _storage(settings))
        self._items: dict[Limit, RateLimitItem] = {
            Limit.MUTATIONS: parse(settings.rate_limit_mutations),
            Limit.AUTH_FAILURES: parse(settings.rate_limit_auth_failures),
            Limit.WEBSOCKET_CONNECTS: parse(settings.rate_limit_websocket_connects),
            Limit.WEBHOOKS: parse(settings.rate_limit_webhooks),
        }
        self._skip_until = 0.0

    async def hit(self, limit: Limit, who: str) -> Refusal | None:
        """Count one use by `who`; a Refusal when that goes over the limit."""
        if not self.enabled or time.monotonic() < self._skip_until:
            return None
        item = self._items[limit]
        try:
            if await self._limiter.hit(item, limit.value, who):
                return None
            stats = await self._limiter.get_window_stats(item, limit.value, who)
        except Exception as error:
            if time.monotonic() >= self._skip_until:
                log.warning("rate limits unavailable for %.0f s: %r", COOL_OFF_SECONDS, error)
            self._skip_until = time.monotonic() + COOL_OFF_SECONDS
            return None
        return Refusal(limit, max(1, math.ceil(stats.reset_time - time.time())))

    async def hit_address(self, limit: Limit, scope: Mapping[str, Any]) -> Refusal | None:
        """Count one use by the request's client address."""
        return await self.hit(limit, client_address(scope))


def client_address(scope: Mapping[str, Any]) -> str:
    """The peer's address (uvicorn's proxy headers set it from X-Forwarded-For for
    trusted proxies)."""
    client = scope.get("client")
    if isinstance(client, tuple | list) and client:
        return str(client[0])
    return "unknown"
