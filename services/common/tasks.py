"""Running coroutines side by side without leaving any behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
TURN_EVERY = 50  # items a long loop handles between turns it gives the event loop


async def take_turn(index: int) -> None:
    """Every `TURN_EVERY`th item, let other tasks run: a loop over thousands of items
    (a consumer's poll) would otherwise hold the event loop, and a write in flight
    would wait for it at each of its round trips."""
    if index % TURN_EVERY == TURN_EVERY - 1:
        await asyncio.sleep(0)


async def all_or_none(*coroutines: Coroutine[Any, Any, Any]) -> list[Any]:
    """Like `asyncio.gather`, but when one fails the others are cancelled and awaited
    before its exception is raised: nothing keeps running (holding rows, calling a
    processor) after the caller has moved on."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def each_at_most(
    limit: int, items: Iterable[T], work: Callable[[T], Awaitable[None]]
) -> None:
    """`work` on every item, at most `limit` at a time, by `limit` tasks (not one task
    per item); a failure stops them all (`all_or_none`)."""
    pending = iter(items)

    async def worker() -> None:
        for item in pending:
            await work(item)

    await all_or_none(*(worker() for _ in range(limit)))
