"""The Redis fast path for hard limits: one script checks and increments a counter in
one round trip, so a user at the limit is refused without touching PostgreSQL's
counter row. PostgreSQL stays the source of truth: the counter that follows in the
same call is guarded by the same limit, a missing key is rebuilt from it, and keys live
minutes, so a count Redis took for a call that then failed heals on its own. Any Redis
failure means "no verdict": the caller counts in PostgreSQL alone, still exact."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
KEY_TTL_SECONDS = 600
COOL_OFF_SECONDS = 5.0

# KEYS the counters, ARGV the quantity and limit of each, taken in order; for each a
# {status, used} pair, flattened. {-1, 0}: no counter here (rebuild it); {0, used}:
# refused; {1, used}: counted.
TAKE_MANY = """
local out = {}
for i, key in ipairs(KEYS) do
  local used = redis.call('GET', key)
  local quantity, limit = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  if not used then
    out[#out + 1] = -1; out[#out + 1] = 0
  elseif tonumber(used) + quantity > limit then
    out[#out + 1] = 0; out[#out + 1] = tonumber(used)
  else
    out[#out + 1] = 1; out[#out + 1] = redis.call('INCRBY', key, quantity)
  end
end
return out
"""
# A give-back for a key that expired meanwhile must not create one without a TTL.
GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECRBY', KEYS[1], ARGV[1]) end
return 0
"""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    used: int


class QuotaGate:
    def __init__(self, redis: Redis, prefix: str, cool_off_seconds: float = COOL_OFF_SECONDS):
        self.redis = redis
        self.prefix = prefix
        self.cool_off_seconds = cool_off_seconds
        self._take_many = redis.register_script(TAKE_MANY)
        self._give_back = redis.register_script(GIVE_BACK)
        self._skip_until = 0.0

    def key(self, user_id: str, meter_id: uuid.UUID, period_start: datetime) -> str:
        return f"{self.prefix}:quota:{user_id}:{meter_id}:{int(period_start.timestamp())}"

    @property
    def degraded(self) -> bool:
        return time.monotonic() < self._skip_until

    def _trip(self, error: Exception) -> None:
        if not self.degraded:
            log.warning("quota gate unavailable, counting in PostgreSQL alone: %s", error)
        self._skip_until = time.monotonic() + self.cool_off_seconds

    async def take(
        self,
        key: str,
        quantity: int,
        limit: int,
        used_now: Callable[[list[str]], Awaitable[list[int]]],
    ) -> Verdict | None:
        """Count `quantity` if it fits under `limit`; None when Redis gave no verdict."""
        [verdict] = await self.take_many([(key, quantity, limit)], used_now)
        return verdict

    async def take_many(
        self,
        takes: list[tuple[str, int, int]],
        used_now: Callable[[list[str]], Awaitable[list[int]]],
    ) -> list[Verdict | None]:
        """`take` for each (key, quantity, limit), in order, in one round trip (two when
        counters must be rebuilt first: `used_now(keys)` reads them from PostgreSQL)."""
        if self.degraded or not takes:
            return [None] * len(takes)
        try:
            verdicts = await self._takes(takes)
        except (RedisError, OSError) as error:
            self._trip(error)
            return [None] * len(takes)
        again = [i for i, verdict in enumerate(verdicts) if verdict is None]
        if again:  # what was taken stands; the rest waits for its counters' rebuild
            missing = sorted({takes[i][0] for i in again})
            try:
                counts = await used_now(missing)
            except Exception:  # PostgreSQL could not say: no verdict for those
                log.warning("quota gate counters not rebuilt", exc_info=True)
                return verdicts
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key, used in zip(missing, counts, strict=True):
                        pipe.set(key, used, nx=True, ex=KEY_TTL_SECONDS)
                    await pipe.execute()
                for i, verdict in zip(
                    again, await self._takes([takes[i] for i in again]), strict=True
                ):
                    verdicts[i] = verdict
            except (RedisError, OSError) as error:
                self._trip(error)
        return verdicts

    async def _takes(self, takes: list[tuple[str, int, int]]) -> list[Verdict | None]:
        args = [number for _, quantity, limit in takes for number in (quantity, limit)]
        flat = await self._take_many(keys=[key for key, _, _ in takes], args=args)
        return [
            None if status == -1 else Verdict(status == 1, int(used))
            for status, used in zip(flat[::2], flat[1::2], strict=True)
        ]

    async def give_back(self, key: str, quantity: int) -> None:
        """Undo a take whose count did not happen in PostgreSQL."""
        try:
            await self._give_back(keys=[key], args=[quantity])
        except (RedisError, OSError) as error:
            self._trip(error)

    async def forget_all(self) -> None:
        """Drop every counter (an API process starting): one that died may have left
        counts in Redis for calls whose transaction never committed, which would refuse
        calls PostgreSQL allows. Each counter is rebuilt from PostgreSQL at its next
        take; a count another process takes meanwhile is still checked by PostgreSQL's
        guard."""
        try:
            keys = [key async for key in self.redis.scan_iter(f"{self.prefix}:quota:*", count=1000)]
            for start in range(0, len(keys), 1000):
                await self.redis.delete(*keys[start : start + 1000])
        except (RedisError, OSError) as error:
            self._trip(error)

    async def forget(self, key: str) -> None:
        """Drop a counter that disagreed with PostgreSQL: the next take rebuilds it."""
        try:
            await self.redis.delete(key)
        except (RedisError, OSError) as error:
            self._trip(error)
