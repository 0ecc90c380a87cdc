"""The group commit's batching: calls made together are flushed together, each caller
gets its own answer (or its own error), and a batch never grows past its bound."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.common.group_commit import GroupCommit


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay

    async def flush(self, calls: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(calls))
        await asyncio.sleep(self.delay)
        return [ValueError(f"odd {c}") if c % 2 else c * 10 for c in calls]


async def test_calls_made_together_share_one_flush_and_get_their_own_answers():
    recorder = Recorder()
    grouped = GroupCommit(recorder.flush, max_calls=100, wait_seconds=0)
    answers = await asyncio.gather(*(grouped.submit(n) for n in range(6)), return_exceptions=True)
    assert recorder.batches == [[0, 1, 2, 3, 4, 5]]
    assert answers[0::2] == [0, 20, 40]
    assert [str(a) for a in answers[1::2]] == ["odd 1", "odd 3", "odd 5"]


async def test_calls_arriving_while_a_batch_runs_form_the_next_batch_within_the_bound():
    recorder = Recorder(delay=0.05)
    grouped = GroupCommit(recorder.flush, max_calls=3, wait_seconds=0)
    first = asyncio.ensure_future(grouped.submit(0))
    await asyncio.sleep(0.01)  # the first batch is running
    rest = [asyncio.ensure_future(grouped.submit(n)) for n in (2, 4, 6, 8)]
    assert await first == 0
    assert await asyncio.gather(*rest) == [20, 40, 60, 80]
    assert recorder.batches == [[0], [2, 4, 6], [8]]
    assert (grouped.batches, grouped.calls) == (3, 5)


async def test_a_flush_that_fails_fails_each_of_its_callers_and_the_next_batch_runs():
    calls: list[list[int]] = []

    async def flush(batch: Sequence[int]) -> list[int | BaseException]:
        calls.append(list(batch))
        if len(calls) == 1:
            raise RuntimeError("lost connection")
        return list(batch)

    grouped = GroupCommit(flush, max_calls=10, wait_seconds=0)
    failed = await asyncio.gather(grouped.submit(1), grouped.submit(2), return_exceptions=True)
    assert [str(f) for f in failed] == ["lost connection", "lost connection"]
    assert await grouped.submit(3) == 3


async def test_a_cancelled_caller_leaves_the_others_answered():
    recorder = Recorder(delay=0.05)
    grouped = GroupCommit(recorder.flush, max_calls=10, wait_seconds=0)
    leaving = asyncio.ensure_future(grouped.submit(2))
    staying = asyncio.ensure_future(grouped.submit(4))
    await asyncio.sleep(0.01)
    leaving.cancel()
    assert await staying == 40
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert recorder.batches == [[2, 4]]  # the cancelled call was flushed all the same


async def test_a_wait_lets_later_calls_join_the_batch():
    recorder = Recorder()
    grouped = GroupCommit(recorder.flush, max_calls=10, wait_seconds=0.05)
    first = asyncio.ensure_future(grouped.submit(0))
    await asyncio.sleep(0.01)
    assert await asyncio.gather(first, grouped.submit(2)) == [0, 20]
    assert recorder.batches == [[0, 2]]


async def test_callers_of_a_group_commit_stopped_mid_flush_are_told_so():
    recorder = Recorder(delay=10)
    grouped = GroupCommit(recorder.flush, max_calls=10, wait_seconds=0)
    waiting = asyncio.ensure_future(grouped.submit(2))
    await asyncio.sleep(0.01)
    assert grouped._runner is not None
    grouped._runner.cancel()  # as when the event loop shuts down
    with pytest.raises(RuntimeError, match="group commit stopped"):
        await waiting


class Overlap(Recorder):
    """Records how many flushes ran at once."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.running = self.most = 0

    async def flush(self, calls: Sequence[int]) -> list[int | BaseException]:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            return await super().flush(calls)
        finally:
            self.running -= 1


@pytest.mark.parametrize("in_flight", [1, 2])
async def test_up_to_in_flight_batches_run_at_once_and_every_call_is_answered(in_flight: int):
    recorder = Overlap(delay=0.05)
    grouped = GroupCommit(recorder.flush, max_calls=2, wait_seconds=0, in_flight=in_flight)
    first = asyncio.ensure_future(grouped.submit(0))
    await asyncio.sleep(0.01)  # the first batch is running
    later = [asyncio.ensure_future(grouped.submit(n)) for n in (2, 4, 6, 8, 10)]
    await asyncio.sleep(0.01)
    late = asyncio.ensure_future(grouped.submit(12))  # while batches are in flight
    assert await asyncio.gather(first, *later, late) == [0, 20, 40, 60, 80, 100, 120]
    assert recorder.most == in_flight
    assert sorted(c for batch in recorder.batches for c in batch) == [0, 2, 4, 6, 8, 10, 12]
    assert all(len(batch) <= 2 for batch in recorder.batches)
    assert grouped._runner is None  # done: nothing left running


async def test_a_call_after_the_last_flight_lands_starts_a_new_run():
    recorder = Overlap(delay=0.01)
    grouped = GroupCommit(recorder.flush, max_calls=5, wait_seconds=0, in_flight=2)
    assert await grouped.submit(2) == 20
    assert await grouped.submit(4) == 40
    assert recorder.batches == [[2], [4]]
