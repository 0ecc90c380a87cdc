"""all_or_none: one failure cancels and awaits the rest before it is raised."""

from __future__ import annotations

import asyncio

import pytest

from services.common.tasks import all_or_none, each_at_most


async def test_a_failure_cancels_the_others_before_it_is_raised():
    ended: list[str] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            ended.append("slow")

    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await all_or_none(slow(), fails(), slow())
    assert ended == ["slow", "slow"]  # both stopped before the caller saw the error


async def test_results_come_back_in_order():
    async def value(n: int) -> int:
        await asyncio.sleep(0.001 * (3 - n))
        return n

    assert await all_or_none(value(1), value(2), value(3)) == [1, 2, 3]


async def test_each_at_most_does_every_item_with_a_bounded_number_in_flight():
    in_flight, peak, done = 0, 0, []

    async def work(n: int) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
        done.append(n)

    await each_at_most(3, range(10), work)
    assert sorted(done) == list(range(10))
    assert peak == 3


async def test_each_at_most_stops_at_the_first_failure():
    started: list[int] = []

    async def work(n: int) -> None:
        started.append(n)
        await asyncio.sleep(0)
        if n == 2:
            raise ValueError("boom")
        await asyncio.sleep(10)

    with pytest.raises(ValueError, match="boom"):
        await each_at_most(3, range(100), work)
    assert started == [0, 1, 2]  # the other workers were cancelled, no item after
