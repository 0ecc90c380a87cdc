"""aiokafka adapters: the relay's publisher and the consumer loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.partitioner import DefaultPartitioner

from services.common.tasks import all_or_none
from services.messaging.publisher import OutboundMessage, PublishError

log = logging.getLogger(__name__)
T = TypeVar("T")
# A produce batch's size: well under Kafka's default 1 MiB message.max.bytes.
MAX_BATCH_BYTES = 256 * 1024
CLOUDEVENT_HEADERS = [("content-type", b"application/cloudevents+json")]


def make_producer(bootstrap: str, client_id: str, *, idempotent: bool) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=5,
        request_timeout_ms=10_000,
        max_batch_size=MAX_BATCH_BYTES,
    )


class KafkaPublisher:
    """Sends a batch and waits for every acknowledgement (acks=all)."""

    def __init__(self, bootstrap: str, client_id: str, *, idempotent: bool = False) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.idempotent = idempotent
        self._producer: AIOKafkaProducer | None = None

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = make_producer(self.bootstrap, self.client_id, idempotent=self.idempotent)
            try:
                await producer.start()
            except (KafkaError, OSError) as error:
                await producer.stop()
                raise PublishError(f"cannot reach Kafka at {self.bootstrap}: {error}") from error
            self._producer = producer
        return self._producer

    async def start(self) -> None:
        """Connect now rather than at the first publish."""
        await self._started()

    async def publish(self, messages: Sequence[OutboundMessage]) -> None:
        """Messages go out as whole produce batches, one partition's after another in
        their order (a future per batch, not per message: several times the rate of
        `send`). Partitions are the default partitioner's, as `send` would pick them."""
        producer = await self._started()
        try:
            by_partition: dict[tuple[str, int], list[OutboundMessage]] = {}
            partitions = {
                topic: sorted(await producer.partitions_for(topic))
                for topic in {message.topic for message in messages}
            }
            for message in messages:
                choices = partitions[message.topic]
                partition = _PARTITIONER(message.key.encode(), choices, choices)
                by_partition.setdefault((message.topic, partition), []).append(message)
            await all_or_none(
                *(
                    _send_in_order(producer, topic, partition, in_partition)
                    for (topic, partition), in_partition in by_partition.items()
                )
            )
        except (KafkaError, OSError) as error:
            # A fresh producer next time: the old one may hold a broken connection.
            await self.close()
            raise PublishError(str(error)) from error

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


_PARTITIONER = DefaultPartitioner()


async def _send_in_order(
    producer: AIOKafkaProducer, topic: str, partition: int, messages: Sequence[OutboundMessage]
) -> None:
    """One partition's messages in batches; the producer keeps one batch per partition
    in flight, so they arrive in this order. Returns once all are acknowledged."""
    delivered = []
    batch = producer.create_batch()
    for message in messages:
        key = message.key.encode()
        # A full batch refuses the message: send it and start another (which always
        # takes its first message, whatever its size).
        while (
            batch.append(key=key, value=message.value, timestamp=None, headers=CLOUDEVENT_HEADERS)
            is None
        ):
            delivered.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
    delivered.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*delivered)


class Stopped:
    """A step failed after the loop was told to stop: it is left for the next run."""


Records = Sequence[tuple[bytes | None, bytes | None]]
Write = Callable[[], Awaitable[None]]
# Reads one poll's records of one topic (parse, validate, read-only checks) and returns
# the step that writes them.
Handler = Callable[[str, Records], Awaitable[Write]]


MAX_RECORDS = 4000  # per poll, across partitions: usage batches this big halve fixed costs


class KafkaConsumerLoop:
    """Consumes the command, payment and usage topics as one consumer group member.

    Each poll's records of one topic go to the handler at once (partition after
    partition, so each partition's, and so each user's, order holds). The handler reads
    them and returns their writing step; polls are written one after the other, in
    order, and the next poll is read while the last is written (on two cores, parsing
    overlaps PostgreSQL's work). A poll's offsets are committed in one call only after
    its writing step returned, that is after its database transactions committed. A
    crash in between redelivers, and the inbox (or the usage events' ids) drops the
    duplicates. The handler deals with poison messages itself (dead-letter topic) and
    raises only for transient failures, which are retried with backoff.
    """

    def __init__(self, bootstrap: str, group: str, topics: Sequence[str], handler: Handler) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.topics = list(topics)
        self.handler = handler

    async def run(self, stop: asyncio.Event, on_round: Callable[[], None] = lambda: None) -> None:
        """Consume until stopped; `on_round` is called after each poll (a heartbeat)."""
        consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        writing: asyncio.Task[bool] | None = None  # the last poll's writing step
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
                by_topic: dict[str, list[tuple[bytes | None, bytes | None]]] = {}
                for partition, records in batches.items():
                    items = by_topic.setdefault(partition.topic, [])
                    items.extend((record.key, record.value) for record in records)
                writes: list[tuple[str, Write]] = []
                for topic, items in by_topic.items():
                    write = await self._until_done(
                        stop, f"messages on {topic}", partial(self.handler, topic, items)
                    )
                    if isinstance(write, Stopped):
                        return
                    writes.append((topic, write))
                if writing is not None and not await writing:
                    return
                writing = None
                if batches:
                    writing = asyncio.create_task(
                        self._write(stop, consumer, writes, _next_offsets(batches))
                    )
                on_round()
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():  # leaving on an error
                writing.cancel()  # uncommitted: its records come again
                with contextlib.suppress(asyncio.CancelledError):
                    await writing
            await consumer.stop()

    async def _write(
        self,
        stop: asyncio.Event,
        consumer: AIOKafkaConsumer,
        writes: Sequence[tuple[str, Write]],
        offsets: dict[TopicPartition, int],
    ) -> bool:
        """One poll written, then its offsets committed; False: stopped before."""
        for topic, write in writes:
            if isinstance(await self._until_done(stop, f"messages on {topic}", write), Stopped):
                return False

        async def commit() -> None:
            # The group may have given partitions to another member meanwhile: it reads
            # them again from their last committed offset, and the duplicates are dropped.
            held = consumer.assignment()
            kept = {tp: offset for tp, offset in offsets.items() if tp in held}
            try:
                if kept:
                    await consumer.commit(kept)
            except (CommitFailedError, IllegalStateError) as error:
                log.warning("offsets not committed, the group rebalanced: %s", error)

        return not isinstance(await self._until_done(stop, "committing offsets", commit), Stopped)

    async def _until_done(
        self, stop: asyncio.Event, what: str, step: Callable[[], Awaitable[T]]
    ) -> T | Stopped:
        """`step`'s result, retried with backoff while it fails. Tried at least once, so a
        loop told to stop still finishes the poll in hand (and commits it) unless that
        fails: a deploy's SIGTERM does not hand the poll to the next process again."""
        backoff = 0.5
        while True:
            try:
                return await step()
            except Exception:  # transient: the database or a gateway is away
                if stop.is_set():
                    log.exception("%s failed while stopping: left for the next run", what)
                    return Stopped()
                log.exception("%s failed; retrying in %.1fs", what, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 30.0)


def _next_offsets(batches: dict[TopicPartition, list[ConsumerRecord]]) -> dict[TopicPartition, int]:
    return {partition: records[-1].offset + 1 for partition, records in batches.items()}
