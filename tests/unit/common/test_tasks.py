"""all_or_none: one failure cancels and awaits the rest before it is raised."""

from __future__ import annotations

import asyncio

import pytest

from services.common.tasks import all_or_none


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
