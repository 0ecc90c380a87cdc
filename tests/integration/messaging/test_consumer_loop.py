"""The consumer loop against a real Kafka-protocol broker: it reads a poll while the
last one is written, writes polls one at a time and in order, retries a failing write,
and commits a poll's offsets only once its write succeeded."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.messaging.kafka import KafkaConsumerLoop, Records, Write
from tests.kafka_broker import TansuBroker, until

TOPIC = "loop.test"
SHARED = "loop.shared"  # two partitions, for two members of one group


@pytest.fixture(scope="module")
def broker():
    tansu = TansuBroker()
    tansu.start()
    asyncio.run(tansu.create_topics([TOPIC], partitions=1))
    asyncio.run(tansu.create_topics([SHARED], partitions=2))
    yield tansu
    tansu.stop()


async def produce(broker: TansuBroker, numbers: Sequence[int]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        sent = [await producer.send(TOPIC, str(n).encode(), partition=0) for n in numbers]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def committed(broker: TansuBroker, group: str) -> int | None:
    """The group's committed offset, read without joining the group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(TOPIC, 0))
    finally:
        await consumer.stop()


class Recorder:
    """A handler that logs its reads and writes; writes wait on `gate`, and the first
    `failures` attempts to write fail as a database away would."""

    def __init__(self, failures: int = 0) -> None:
        self.log: list[tuple[str, int]] = []
        self.written: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures = failures

    async def __call__(self, topic: str, records: Records) -> Write:
        numbers = [int(value or b"") for _, value in records]
        self.log.append(("read", numbers[-1]))

        async def write() -> None:
            self.log.append(("write", numbers[-1]))
            await self.gate.wait()
            if self.failures:
                self.failures -= 1
                raise ConnectionError("database away")
            self.written.extend(numbers)

        return write

    def reads(self) -> list[int]:
        return [last for step, last in self.log if step == "read"]

    def writes(self) -> list[int]:
        return [last for step, last in self.log if step == "write"]


async def test_the_next_poll_is_read_while_the_last_is_written_in_order_once(broker):
    group = f"loop-{uuid.uuid4().hex[:6]}"
    handler = Recorder(failures=1)
    handler.gate.clear()
    stop = asyncio.Event()
    task = asyncio.create_task(
        KafkaConsumerLoop(broker.bootstrap, group, [TOPIC], handler).run(stop)
    )
    try:
        await produce(broker, range(10))
        await until(holds(lambda: bool(handler.writes())))
        first_write = handler.writes()[0]
        await produce(broker, range(10, 20))
        await until(holds(lambda: 19 in handler.reads()))
        # Poll two was read while poll one's write still waits; nothing else was written
        # and nothing committed.
        assert handler.writes() == [first_write]
        assert handler.written == []
        assert await committed(broker, group) is None

        handler.gate.set()  # the first attempt fails, the retry succeeds
        await until(holds(lambda: len(handler.written) == 20))
        await until(committed_is(broker, group, 20))
    finally:
        stop.set()
        await task
    assert handler.written == list(range(20))
    assert handler.writes()[:2] == [first_write, first_write]  # retried, not skipped
    assert handler.writes() == sorted(handler.writes())


def holds(check):  # type: ignore[no-untyped-def]
    async def condition() -> bool:
        return bool(check())

    return condition


def committed_is(broker: TansuBroker, group: str, offset: int):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return await committed(broker, group) == offset

    return check


async def test_a_loop_stopped_while_its_write_fails_commits_nothing(broker):
    """Its records stay uncommitted, so the group's next member gets them again."""
    group = f"loop-{uuid.uuid4().hex[:6]}"
    await produce(broker, range(100, 105))
    failing = Recorder(failures=10**6)
    stop = asyncio.Event()
    task = asyncio.create_task(
        KafkaConsumerLoop(broker.bootstrap, group, [TOPIC], failing).run(stop)
    )
    try:
        await until(holds(lambda: len(failing.writes()) >= 2))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)  # stopping ends the retries
    assert failing.written == []
    assert 104 in failing.reads()
    assert await committed(broker, group) is None


async def test_a_member_whose_partition_moved_while_it_wrote_keeps_running(broker):
    """Another member joins while a poll is being written: the group gives it one of the
    two partitions, which it reads again from the start (nothing was committed); the
    first member commits what it still holds and carries on."""
    group = f"loop-{uuid.uuid4().hex[:6]}"
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        for n in range(20):
            await producer.send_and_wait(SHARED, str(n).encode(), partition=n % 2)
    finally:
        await producer.stop()
    first, second = Recorder(), Recorder()
    first.gate.clear()
    stop = asyncio.Event()
    running = asyncio.create_task(
        KafkaConsumerLoop(broker.bootstrap, group, [SHARED], first).run(stop)
    )
    joined: asyncio.Task[None] | None = None
    try:
        await until(holds(lambda: bool(first.writes())), 30)
        joined = asyncio.create_task(
            KafkaConsumerLoop(broker.bootstrap, group, [SHARED], second).run(stop)
        )
        await until(holds(lambda: len(second.written) >= 10), 60)  # a partition moved
        first.gate.set()
        await until(holds(lambda: len(first.written) >= 20), 30)
        await asyncio.sleep(1)  # its offsets are committed (or found not its own)
        assert not running.done()  # the first member survived the rebalance
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        if joined is not None:
            await asyncio.wait_for(joined, 30)
    moved = set(second.written)
    assert moved in ({n for n in range(20) if n % 2 == 0}, {n for n in range(20) if n % 2})


async def test_a_loop_told_to_stop_mid_write_finishes_the_poll_and_commits_it(broker):
    """A deploy's SIGTERM while a poll is written: the poll is finished and committed, not
    handed to the next process again."""
    group = f"loop-{uuid.uuid4().hex[:6]}"
    await produce(broker, range(200, 205))
    handler = Recorder()
    handler.gate.clear()
    stop = asyncio.Event()
    task = asyncio.create_task(
        KafkaConsumerLoop(broker.bootstrap, group, [TOPIC], handler).run(stop)
    )
    await until(holds(lambda: bool(handler.writes())))
    stop.set()
    handler.gate.set()
    await asyncio.wait_for(task, 10)
    assert handler.written[-5:] == [200, 201, 202, 203, 204]
    assert await committed(broker, group) is not None
