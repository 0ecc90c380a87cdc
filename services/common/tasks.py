"""Running coroutines side by side without leaving any behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


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
