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
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.messaging.events import SUBSCRIPTION_STATUS_CHANGED
from services.messaging.publisher import OutboundMessage

log = logging.getLogger(__name__)


def live_channel(prefix: str) -> str:
    """The deployment's channel: Redis pub/sub has no databases, so the name keeps
    deployments that share a Redis apart."""
    return f"{prefix}:live"


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
    event_id: str = ""  # the CloudEvent id: a resuming client's cursor names it

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
            event_id=str(envelope.get("id", "")),
        )


QUOTA_CHANGED = "usage.quota_changed"  # pushed live only, never written to the outbox


@dataclass(frozen=True)
class QuotaChange:
    """A user's meter after usage was counted: what the client shows as remaining."""

    user_id: str
    meter_key: str
    used: int
    remaining: int | None
    resets_at: datetime

    def message(self) -> OutboundMessage:
        data = {
            "userId": self.user_id,
            "meterKey": self.meter_key,
            "used": self.used,
            "remaining": self.remaining,
            "resetsAt": self.resets_at.isoformat(),
        }
        return OutboundMessage.of(
            QUOTA_CHANGED, self.user_id, {"type": QUOTA_CHANGED, "data": data}
        )

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any]) -> QuotaChange | None:
        if envelope.get("type") != QUOTA_CHANGED:
            return None
        data = envelope["data"]
        return cls(
            user_id=data["userId"],
            meter_key=data["meterKey"],
            used=int(data["used"]),
            remaining=data["remaining"],
            resets_at=datetime.fromisoformat(data["resetsAt"]),
        )


Change = StatusChange | QuotaChange


def parse_change(envelope: dict[str, Any]) -> Change | None:
    return StatusChange.from_envelope(envelope) or QuotaChange.from_envelope(envelope)


class Mailbox:
    """One listener's pending changes, at most `limit` (a client too slow to keep up loses
    its oldest ones rather than holding memory forever). Lighter than an asyncio.Queue
    (three deques and an Event each): a process holds thousands of idle listeners, so the
    buffer is made on first use and a waiting reader holds one future."""

    __slots__ = ("_limit", "_pending", "_waiter")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._pending: deque[Any] | None = None
        self._waiter: asyncio.Future[Any] | None = None

    def offer(self, change: Change) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(change)
            return
        if self._pending is None:
            self._pending = deque(maxlen=self._limit)
        self._pending.append(change)  # at the limit, drops the oldest

    def poll(self) -> Any | None:
        """The next pending change without waiting (None when there is none)."""
        return self._pending.popleft() if self._pending else None

    async def get(self) -> Any:
        if self._pending:
            return self._pending.popleft()
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            return await self._waiter
        finally:
            self._waiter = None


class LiveHub:
    """This process's websocket listeners. A listener for one user is found by user id
    (no scan of every listener per change); firehose listeners see everything that
    passes their filter."""

    def __init__(self, queue_size: int = 100) -> None:
        self.queue_size = queue_size
        self._by_user: dict[str, dict[int, Mailbox]] = {}
        self._firehose: dict[int, tuple[Callable[[StatusChange], bool], Mailbox]] = {}
        self._quotas_by_user: dict[str, dict[int, Mailbox]] = {}
        self._next = 0

    @property
    def listener_count(self) -> int:
        users = sum(len(boxes) for boxes in self._by_user.values())
        quotas = sum(len(boxes) for boxes in self._quotas_by_user.values())
        return len(self._firehose) + users + quotas

    def watches_quotas_of(self, user_id: str) -> bool:
        return user_id in self._quotas_by_user

    def dispatch(self, change: Change) -> None:
        if isinstance(change, QuotaChange):
            for box in list(self._quotas_by_user.get(change.user_id, {}).values()):
                box.offer(change)
            return
        for box in list(self._by_user.get(change.user_id, {}).values()):
            box.offer(change)
        for wanted, box in list(self._firehose.values()):
            if wanted(change):
                box.offer(change)

    @contextlib.asynccontextmanager
    async def listen_user(self, user_id: str) -> AsyncIterator[Mailbox]:
        async with _listening(self._by_user, user_id, self._register()) as box:
            yield box

    @contextlib.asynccontextmanager
    async def listen_quota(self, user_id: str) -> AsyncIterator[Mailbox]:
        async with _listening(self._quotas_by_user, user_id, self._register()) as box:
            yield box

    @contextlib.asynccontextmanager
    async def listen(self, wanted: Callable[[StatusChange], bool]) -> AsyncIterator[Mailbox]:
        key, box = self._register()
        self._firehose[key] = (wanted, box)
        try:
            yield box
        finally:
            del self._firehose[key]

    def _register(self) -> tuple[int, Mailbox]:
        self._next += 1
        return self._next, Mailbox(self.queue_size)


@contextlib.asynccontextmanager
async def _listening(
    by_user: dict[str, dict[int, Mailbox]], user_id: str, registered: tuple[int, Mailbox]
) -> AsyncIterator[Mailbox]:
    key, box = registered
    by_user.setdefault(user_id, {})[key] = box
    try:
        yield box
    finally:
        boxes = by_user[user_id]
        del boxes[key]
        if not boxes:
            del by_user[user_id]


class LiveFeed(Protocol):
    async def publish(self, messages: Sequence[OutboundMessage]) -> None: ...

    def may_watch_quotas_of(self, user_id: str) -> bool:
        """False only when no listener anywhere can want this user's quota changes."""


def _changes(messages: Sequence[OutboundMessage]) -> list[bytes]:
    return [
        m.value
        for m in messages
        if b'"subscription.status_changed"' in m.value or b'"usage.quota_changed"' in m.value
    ]


class LocalFeed:
    """No Redis: straight into this process's hub."""

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub

    def may_watch_quotas_of(self, user_id: str) -> bool:
        return self.hub.watches_quotas_of(user_id)  # this process's hub is every listener

    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        for value in _changes(messages):
            change = parse_change(orjson.loads(value))
            if change is not None:
                self.hub.dispatch(change)


class RedisFeed:
    """Redis pub/sub: every API process's listener receives every change. A relay batch
    goes out as one message (a JSON array of envelopes), not one per change."""

    def __init__(self, redis: Redis, channel: str) -> None:
        self.redis = redis
        self.channel = channel

    def may_watch_quotas_of(self, user_id: str) -> bool:
        return True  # another process's clients may

    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        values = _changes(messages)
        if not values:
            return
        try:
            await self.redis.publish(self.channel, b"[" + b",".join(values) + b"]")
        except (RedisError, OSError) as error:  # live pushes are best effort
            log.warning("could not push %d live change(s) to Redis: %s", len(values), error)


def _dispatch_published(hub: LiveHub, data: bytes) -> None:
    """A channel message: an array of envelopes (or one, as older publishers sent)."""
    try:
        decoded = orjson.loads(data)
        envelopes = decoded if isinstance(decoded, list) else [decoded]
        changes = [parse_change(envelope) for envelope in envelopes]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        log.warning("ignoring a malformed live-channel message: %r", error)
        return
    for change in changes:
        if change is not None:
            hub.dispatch(change)


async def listen_to_redis(redis: Redis, hub: LiveHub, stop: asyncio.Event, channel: str) -> None:
    """Forward the Redis channel into this process's hub, reconnecting after outages."""
    while not stop.is_set():
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(channel)
                while not stop.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                    if message is None:
                        continue
                    _dispatch_published(hub, message["data"])
        except (RedisError, OSError) as error:
            log.warning("live channel lost (%s); reconnecting", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


class QuotaPushes:
    """Quota changes held a moment in this process, the latest per user and meter, then
    published together: a burst of counting costs one channel message per window, not
    one per call (clients see the same, as subscribers coalesce too)."""

    def __init__(self, feed: LiveFeed, window_seconds: float = 0.1) -> None:
        self.feed = feed
        self.window_seconds = window_seconds
        self._latest: dict[tuple[str, str], QuotaChange] = {}
        self._flushing: asyncio.Task[None] | None = None

    def offer(self, change: QuotaChange) -> None:
        if not self.feed.may_watch_quotas_of(change.user_id):
            return  # nobody would see it: not built, serialized and parsed back for nothing
        self._latest[(change.user_id, change.meter_key)] = change
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(self.window_seconds)
        changes, self._latest, self._flushing = list(self._latest.values()), {}, None
        try:
            await self.feed.publish([change.message() for change in changes])
        except Exception:  # best effort, like every live push
            log.warning("could not push %d quota changes", len(changes), exc_info=True)

    async def drain(self) -> None:
        """Send what is held now (at shutdown)."""
        if self._flushing is not None:
            await self._flushing
