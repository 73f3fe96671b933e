"""Waiting in tests for real servers to catch up: one helper, in an async and a blocking form.

The contract: ``check`` is called every ``every`` seconds until it returns a truthy
value, which is returned; an async ``check`` is awaited. Anything it raises is a
failure at once, not a reason to wait. When ``within`` seconds pass first, the test
fails with an ``AssertionError`` naming ``what`` and the value ``check`` last returned.

To show that something did *not* happen, do not sleep: send a sentinel after it on the
same key (so the same partition, which a consumer reads in order), wait with
``eventually`` for the sentinel's effect, then assert the absence.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")


# The value returned is truthy, so never None: a check that gives "X | None" gives X.
@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]], *, within: float, what: str, every: float = ...
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T | None], *, within: float, what: str, every: float = ...
) -> T: ...


async def eventually(
    check: Callable[[], T | Awaitable[T | None] | None],
    *,
    within: float,
    what: str,
    every: float = 0.1,
) -> T:
    """The first truthy value of ``check``, polled until ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        if time.monotonic() >= deadline:
            raise _timed_out(what, within, found)
        await asyncio.sleep(every)


def eventually_sync(
    check: Callable[[], T | None], *, within: float, what: str, every: float = 0.1
) -> T:
    """``eventually`` for tests that are not coroutines: blocks while it polls."""
    deadline = time.monotonic() + within
    while not (found := check()):
        if time.monotonic() >= deadline:
            raise _timed_out(what, within, found)
        time.sleep(every)
    return found


def _timed_out(what: str, within: float, last: object) -> AssertionError:
    return AssertionError(f"{what}: not so within {within:g} s (the check last gave {last!r})")
