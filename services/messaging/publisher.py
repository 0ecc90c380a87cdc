"""Where relayed events go: Kafka in production, an in-process bus by default."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboundMessage:
    topic: str
    key: str
    value: bytes  # the CloudEvent, JSON-encoded once (by PostgreSQL, for relayed rows)

    @classmethod
    def of(cls, topic: str, key: str, document: dict[str, Any]) -> OutboundMessage:
        return cls(topic, key, orjson.dumps(document))

    @property
    def envelope(self) -> dict[str, Any]:
        decoded: dict[str, Any] = orjson.loads(self.value)
        return decoded


class PublishError(Exception):
    """The broker did not take the messages; the relay retries them later."""


class Publisher(Protocol):
    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        """Deliver in order; return only when every message is acknowledged."""


Subscriber = Callable[[OutboundMessage], Awaitable[None]]


class InProcessBus:
    """The embedded default: relayed events go to this process's subscribers (live
    GraphQL subscriptions, logging). The outbox stays the durable record."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        for message in messages:
            for subscriber in list(self._subscribers):
                try:
                    await subscriber(message)
                except Exception:  # one bad subscriber must not stop delivery
                    log.exception("in-process subscriber failed on a %s event", message.topic)
