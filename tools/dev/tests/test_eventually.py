"""``eventually``: the value once the check passes, or a failure that says what never came."""

from __future__ import annotations

import itertools

import pytest

from orderly_dev.eventually import eventually, eventually_sync


async def test_the_first_truthy_value_is_returned_sync_or_awaited() -> None:
    counter = itertools.count()

    async def reaches_three() -> int:
        n = next(counter)
        return n if n >= 3 else 0

    assert await eventually(reaches_three, within=5, what="three", every=0.001) == 3
    assert await eventually(lambda: "ready", within=5, what="ready") == "ready"
    assert eventually_sync(lambda: ["row"], within=5, what="a row") == ["row"]


async def test_a_check_that_never_passes_fails_naming_what_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"2 dead letters: not so within 0.05 s .*gave \[\]\)"):
        await eventually(lambda: [], within=0.05, what="2 dead letters", every=0.01)
    with pytest.raises(AssertionError, match=r"the order paid: not so within 0.05 s .*None\)"):
        eventually_sync(lambda: None, within=0.05, what="the order paid", every=0.01)


async def test_an_error_in_the_check_fails_at_once() -> None:
    def broken() -> bool:
        raise ValueError("no such table")

    with pytest.raises(ValueError, match="no such table"):
        await eventually(broken, within=60, what="never waited for")
