"""Live status changes for websocket clients.

Changes come from committed outbox events only: the relay hands each batch it
published to a feed after its transaction committed. With Redis the feed is a pub/sub
channel that every API process listens to; without it, the relay and the websocket
clients must share a process, and the feed is that process's hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.events import SUBSCRIPTION_STATUS_CHANGED
from services.messaging.publisher import OutboundMessage

log = logging.getLogger(__name__)
CHANNEL = "subscription-service:live"


@dataclass(frozen=True)
class StatusChange:
    user_id: str
    subscription_id: str
    status: str
    previous_status: str | None
    plan_code: str
    tier: str
    entitlements: tuple[str, ...]
    reason: str
    actor: str
    occurred_at: datetime

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any]) -> StatusChange | None:
        if envelope.get("type") != SUBSCRIPTION_STATUS_CHANGED:
            return None
        data = envelope["data"]
        return cls(
            user_id=data["userId"],
            subscription_id=data["subscriptionId"],
            status=data["to"],
            previous_status=data["from"],
            plan_code=data["planCode"],
            tier=data["tier"],
            entitlements=tuple(data["entitlements"]),
            reason=data["reason"],
            actor=data["actor"],
            occurred_at=datetime.fromisoformat(envelope["time"].replace("Z", "+00:00")),
        )


class LiveHub:
    """This process's websocket listeners. A listener for one user is found by user id
    (no scan of every listener per change); firehose listeners see everything that
    passes their filter. Each listener has a bounded queue: a client too slow to keep
    up loses its oldest pending changes rather than holding memory forever."""

    def __init__(self, queue_size: int = 100) -> None:
        self.queue_size = queue_size
        self._by_user: dict[str, dict[int, asyncio.Queue[StatusChange]]] = {}
        self._firehose: dict[
            int, tuple[Callable[[StatusChange], bool], asyncio.Queue[StatusChange]]
        ] = {}
        self._next = 0

    @property
    def listener_count(self) -> int:
        return len(self._firehose) + sum(len(queues) for queues in self._by_user.values())

    def dispatch(self, change: StatusChange) -> None:
        for queue in list(self._by_user.get(change.user_id, {}).values()):
            self._offer(queue, change)
        for wanted, queue in list(self._firehose.values()):
            if wanted(change):
                self._offer(queue, change)

    @staticmethod
    def _offer(queue: asyncio.Queue[StatusChange], change: StatusChange) -> None:
        if queue.full():
            queue.get_nowait()  # drop the oldest for a slow client
        queue.put_nowait(change)

    @contextlib.asynccontextmanager
    async def listen_user(self, user_id: str) -> AsyncIterator[asyncio.Queue[StatusChange]]:
        key, queue = self._register()
        self._by_user.setdefault(user_id, {})[key] = queue
        try:
            yield queue
        finally:
            queues = self._by_user[user_id]
            del queues[key]
            if not queues:
                del self._by_user[user_id]

    @contextlib.asynccontextmanager
    async def listen(
        self, wanted: Callable[[StatusChange], bool]
    ) -> AsyncIterator[asyncio.Queue[StatusChange]]:
        key, queue = self._register()
        self._firehose[key] = (wanted, queue)
        try:
            yield queue
        finally:
            del self._firehose[key]

    def _register(self) -> tuple[int, asyncio.Queue[StatusChange]]:
        self._next += 1
        return self._next, asyncio.Queue(self.queue_size)


class LiveFeed(Protocol):
    async def publish(self, messages: Sequence[OutboundMessage]) -> None: ...


def _changes(messages: Sequence[OutboundMessage]) -> list[bytes]:
    return [m.value for m in messages if b'"subscription.status_changed"' in m.value]


class LocalFeed:
    """No Redis: straight into this process's hub."""

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub

    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        for value in _changes(messages):
            change = StatusChange.from_envelope(orjson.loads(value))
            if change is not None:
                self.hub.dispatch(change)


class RedisFeed:
    """Redis pub/sub: every API process's listener receives every change."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        values = _changes(messages)
        if not values:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for value in values:
                    pipe.publish(CHANNEL, value)
                await pipe.execute()
        except (RedisError, OSError) as error:  # live pushes are best effort
            log.warning("could not push %d live change(s) to Redis: %s", len(values), error)


async def listen_to_redis(redis: Redis, hub: LiveHub, stop: asyncio.Event) -> None:
    """Forward the Redis channel into this process's hub, reconnecting after outages."""
    while not stop.is_set():
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(CHANNEL)
                while not stop.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                    if message is None:
                        continue
                    change = StatusChange.from_envelope(orjson.loads(message["data"]))
                    if change is not None:
                        hub.dispatch(change)
        except (RedisError, OSError) as error:
            log.warning("live channel lost (%s); reconnecting", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
