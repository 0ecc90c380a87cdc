"""Running coroutines side by side without leaving any behind."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


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
