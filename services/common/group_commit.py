"""Group commit: calls that arrive together are handed over as one batch, and each
caller gets its own answer once the batch is done. A batch starts when the first call
of it arrives; it takes whatever joined within `wait_seconds` (0: the calls made
ready in the same turn of the event loop, plus every call that arrived while the
batches ahead were running), at most `max_calls`. Up to `in_flight` batches run at a
time per process (1 unless asked): under load the next one fills while those ahead
commit, so a call waits at most for the batches ahead of it and its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
Call = TypeVar("Call")
Answer = TypeVar("Answer")


@dataclass
class _Waiting(Generic[Call, Answer]):
    call: Call
    future: asyncio.Future[Answer]


class GroupCommit(Generic[Call, Answer]):
    def __init__(
        self,
        flush: Callable[[Sequence[Call]], Awaitable[Sequence[Answer | BaseException]]],
        *,
        max_calls: int,
        wait_seconds: float,
        in_flight: int = 1,
    ) -> None:
        self.flush = flush
        self.in_flight = in_flight
        self.max_calls = max_calls
        self.wait_seconds = wait_seconds
        self._waiting: list[_Waiting[Call, Answer]] = []
        self._runner: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()  # a call came while batches were in flight
        self.batches = 0
        self.calls = 0

    async def submit(self, call: Call) -> Answer:
        """`call`'s answer from the batch it joins (or the exception its flush gave it).
        A caller cancelled meanwhile leaves its call in the batch: it is done anyway."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        if self._runner is not None and self._runner.get_loop() is not loop:
            self._runner, self._waiting = None, []  # a loop that ended (tests run many)
            self._arrived = asyncio.Event()
        self._waiting.append(_Waiting(call, future))
        self._arrived.set()
        if self._runner is None:
            self._runner = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        flying: set[asyncio.Future[None]] = set()
        try:
            while self._waiting or flying:
                if self._waiting and len(flying) < self.in_flight:
                    await asyncio.sleep(self.wait_seconds)  # 0: one turn of the loop
                    batch = self._waiting[: self.max_calls]
                    del self._waiting[: self.max_calls]
                    flying.add(asyncio.ensure_future(self._flush(batch)))
                    continue
                self._arrived.clear()
                watch: set[asyncio.Future[Any]] = set(flying)
                if len(flying) < self.in_flight:  # room for a batch as soon as one comes
                    watch.add(asyncio.ensure_future(self._arrived.wait()))
                done, _ = await asyncio.wait(watch, return_when=asyncio.FIRST_COMPLETED)
                for future in watch - flying:
                    future.cancel()
                flying -= done
        finally:
            self._runner = None
            for flight in flying:  # cancelled (the loop is ending): so are its batches
                flight.cancel()
            for waiting in self._waiting:  # only if the loop itself is going away
                if not waiting.future.done():
                    waiting.future.set_exception(RuntimeError("group commit stopped"))
            self._waiting.clear()

    async def _flush(self, batch: list[_Waiting[Call, Answer]]) -> None:
        self.batches += 1
        self.calls += len(batch)
        try:
            answers: Sequence[Answer | BaseException] = await self.flush([w.call for w in batch])
        except Exception as error:  # the flush's own bug: every caller hears of it
            log.exception("a group commit failed")
            answers = [error] * len(batch)
        except BaseException:  # cancelled (the loop is ending): nobody waits forever
            for waiting in batch:
                if not waiting.future.done():
                    waiting.future.set_exception(RuntimeError("group commit stopped"))
            raise
        for waiting, answer in zip(batch, answers, strict=True):
            if waiting.future.done():  # its caller was cancelled
                continue
            if isinstance(answer, BaseException):
                waiting.future.set_exception(answer)
            else:
                waiting.future.set_result(answer)
