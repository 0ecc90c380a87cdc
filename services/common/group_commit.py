"""Group commit: calls that arrive together are handed over as one batch, and each
caller gets its own answer once the batch is done. A batch starts when the first call
of it arrives; it takes whatever joined within `wait_seconds` (0: the calls made
ready in the same turn of the event loop, plus every call that arrived while the
previous batch was running), at most `max_calls`. One batch runs at a time per process:
under load the next one fills while the current one commits, so a call waits at most
for the batch ahead of it and its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

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
    ) -> None:
        self.flush = flush
        self.max_calls = max_calls
        self.wait_seconds = wait_seconds
        self._waiting: list[_Waiting[Call, Answer]] = []
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0
        self.calls = 0

    async def submit(self, call: Call) -> Answer:
        """`call`'s answer from the batch it joins (or the exception its flush gave it).
        A caller cancelled meanwhile leaves its call in the batch: it is done anyway."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        if self._runner is not None and self._runner.get_loop() is not loop:
            self._runner, self._waiting = None, []  # a loop that ended (tests run many)
        self._waiting.append(_Waiting(call, future))
        if self._runner is None:
            self._runner = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                await asyncio.sleep(self.wait_seconds)  # 0: one turn of the loop
                batch = self._waiting[: self.max_calls]
                del self._waiting[: self.max_calls]
                await self._flush(batch)
        finally:
            self._runner = None
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
