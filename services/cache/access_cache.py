"""Read-through cache of what a user may use (5-minute TTL), in Redis or in-process.

What is cached is the state entitlements are computed from, not the answer: the
answer is recomputed at each read with the current time, so a period or grace end
passing needs no invalidation. Changes invalidate by bumping a per-user generation
(and a global one for catalog changes) right after their transaction commits; an entry
read before a bump is ignored, so a reader that raced a writer cannot put an old value
back. Concurrent misses for one user share one database read. Redis failures fall
back to PostgreSQL, and Redis is skipped for a few seconds after one, so a dead Redis
costs nothing per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.group_commit import GroupCommit

log = logging.getLogger(__name__)
TTL_SECONDS = 300
READS_TOGETHER = 200  # requests whose reads share one MGET
COOL_OFF_SECONDS = 5.0
GLOBAL = "*"


class CacheStore(Protocol):
    async def read_many(self, user_ids: list[str]) -> list[tuple[bytes | None, int, int]]:
        """(the entry, the user's generation, the global generation) of each user, in
        their order."""

    async def write(self, user_id: str, value: bytes) -> None: ...

    async def bump(self, user_ids: Iterable[str]) -> None: ...


class MemoryStore:
    """One process's cache: for the embedded default, where one process does it all."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._generations: dict[str, int] = {}

    async def read_many(self, user_ids: list[str]) -> list[tuple[bytes | None, int, int]]:
        now, everyone = time.monotonic(), self._generations.get(GLOBAL, 0)
        found = []
        for user_id in user_ids:
            entry = self._entries.get(user_id)
            value = entry[1] if entry and entry[0] > now else None
            found.append((value, self._generations.get(user_id, 0), everyone))
        return found

    async def write(self, user_id: str, value: bytes) -> None:
        if len(self._entries) > 100_000:
            self._entries.clear()  # crude bound; the embedded default is small
        self._entries[user_id] = (time.monotonic() + TTL_SECONDS, value)

    async def bump(self, user_ids: Iterable[str]) -> None:
        for user_id in user_ids:
            self._generations[user_id] = self._generations.get(user_id, 0) + 1
            self._entries.pop(user_id, None)


class RedisStore:
    """Entries and generations under `prefix` (the deployment's Redis namespace). Reads
    that arrive together share one MGET: every request reads its user's entry, and a
    round trip's client-side cost is most of a hot read's."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._reads: GroupCommit[list[str], list[tuple[bytes | None, int, int]]] = GroupCommit(
            self._read_together, max_calls=READS_TOGETHER, wait_seconds=0
        )

    def _entry_key(self, user_id: str) -> str:
        return f"{self.prefix}:access:{user_id}"

    def _generation_key(self, user_id: str) -> str:
        return f"{self.prefix}:access-gen:{user_id}"

    async def read_many(self, user_ids: list[str]) -> list[tuple[bytes | None, int, int]]:
        return await self._reads.submit(user_ids)

    async def _read_together(
        self, calls: Sequence[list[str]]
    ) -> list[list[tuple[bytes | None, int, int]] | BaseException]:
        try:
            found = await self._read([user_id for user_ids in calls for user_id in user_ids])
        except (RedisError, OSError) as error:
            return [error] * len(calls)
        answers: list[list[tuple[bytes | None, int, int]] | BaseException] = []
        for user_ids in calls:
            answers.append(found[: len(user_ids)])
            del found[: len(user_ids)]
        return answers

    async def _read(self, user_ids: list[str]) -> list[tuple[bytes | None, int, int]]:
        """One MGET for all of them (a usage batch names up to 1,000 users)."""
        keys = [self._generation_key(GLOBAL)]
        for user_id in user_ids:
            keys += (self._entry_key(user_id), self._generation_key(user_id))
        everyone, *values = await self.redis.mget(keys)
        found = []
        for entry, generation in zip(values[::2], values[1::2], strict=True):
            raw = entry.encode() if isinstance(entry, str) else entry
            found.append((raw, int(generation or 0), int(everyone or 0)))
        return found

    async def write(self, user_id: str, value: bytes) -> None:
        await self.redis.set(self._entry_key(user_id), value, ex=TTL_SECONDS)

    async def bump(self, user_ids: Iterable[str]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.incr(self._generation_key(user_id))
                pipe.expire(self._generation_key(user_id), TTL_SECONDS * 2)
            await pipe.execute()


class AccessCache:
    def __init__(self, store: CacheStore, cool_off_seconds: float = COOL_OFF_SECONDS) -> None:
        self.store = store
        self.cool_off_seconds = cool_off_seconds
        self._loading: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._skip_until = 0.0
        self._unbumped: set[str] = set()  # invalidations Redis missed while it was away
        self.hits = 0
        self.misses = 0

    @property
    def degraded(self) -> bool:
        return time.monotonic() < self._skip_until

    def _trip(self, error: Exception) -> None:
        if not self.degraded:
            log.warning("access cache unavailable, reading PostgreSQL: %s", error)
        self._skip_until = time.monotonic() + self.cool_off_seconds

    async def get(
        self, user_id: str, load: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        """The cached snapshot for `user_id`, or `load()`'s (shared by concurrent misses)."""
        [value] = await self.get_many([user_id], lambda _: load())
        return value

    async def get_many(
        self, user_ids: list[str], load: Callable[[str], Awaitable[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """The cached snapshot of each user, in their order, from one read of the store;
        the misses are loaded side by side and written back."""
        found: list[dict[str, Any] | None] = [None] * len(user_ids)
        generations: list[list[int] | None] = [None] * len(user_ids)
        if not self.degraded:
            try:
                for index, (raw, generation, everyone) in enumerate(await self._read(user_ids)):
                    generations[index] = seen = [generation, everyone]
                    found[index] = self._fresh(raw, seen)
            except (RedisError, OSError) as error:
                self._trip(error)
        missed = [index for index, value in enumerate(found) if value is None]
        if missed:
            loaded = await asyncio.gather(
                *(self._load(user_ids[i], load, generations[i]) for i in missed)
            )
            for index, value in zip(missed, loaded, strict=True):
                found[index] = value
        return [value for value in found if value is not None]

    async def _load(
        self,
        user_id: str,
        load: Callable[[str], Awaitable[dict[str, Any]]],
        generations: list[int] | None,
    ) -> dict[str, Any]:
        """A miss: `load(user_id)`, shared by concurrent misses for the user, written
        back under the generations read before it (None: the store was not read)."""
        self.misses += 1
        pending = self._loading.get(user_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._loading[user_id] = future
        try:
            value = await load(user_id)
            future.set_result(value)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        finally:
            del self._loading[user_id]
        if generations is not None and not self.degraded:
            try:
                await self.store.write(user_id, orjson.dumps({"gen": generations, "value": value}))
            except (RedisError, OSError) as error:
                self._trip(error)
        return value

    async def _read(self, user_ids: list[str]) -> list[tuple[bytes | None, int, int]]:
        if self._unbumped:  # first replay what was missed, or entries lie
            await self.store.bump(self._unbumped)
            self._unbumped.clear()
        return await self.store.read_many(user_ids)

    def _fresh(self, raw: bytes | None, generations: list[int]) -> dict[str, Any] | None:
        """The entry's snapshot if no change was announced since it was written."""
        if raw is None:
            return None
        cached = orjson.loads(raw)
        if cached["gen"] != generations:
            return None
        self.hits += 1
        return dict(cached["value"])

    async def invalidate(self, user_ids: Iterable[str]) -> None:
        users = set(user_ids)
        if not users:
            return
        try:
            await self.store.bump(users)
        except (RedisError, OSError) as error:
            # Kept and replayed before the next cache read, so no stale entry is served.
            self._unbumped |= users
            self._trip(error)

    async def invalidate_everyone(self) -> None:
        await self.invalidate([GLOBAL])
