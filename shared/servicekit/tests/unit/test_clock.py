"""The clock a service's use cases read: the system's, or a test's that it moves on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import MetaData

from orderly_kit.clock import ManualClock, utc_now
from orderly_kit.messaging import UnitOfWork
from orderly_kit.messaging_tables import add_messaging_tables


def test_the_system_clock_tells_utc() -> None:
    before = datetime.now(UTC)
    now = utc_now()
    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)


def test_a_manual_clock_stands_still_until_moved_on() -> None:
    clock = ManualClock(datetime(2026, 12, 7, 9, 0, tzinfo=timezone(timedelta(hours=8))))
    assert clock() == datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    assert clock() == clock()
    assert clock.advance(timedelta(minutes=30)) == datetime(2026, 12, 7, 1, 30, tzinfo=UTC)
    assert clock() == datetime(2026, 12, 7, 1, 30, tzinfo=UTC)


def test_a_manual_clock_refuses_naive_times_and_going_back() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 12, 7))
    with pytest.raises(ValueError, match="does not go back"):
        ManualClock().advance(timedelta(seconds=-1))


def test_a_unit_of_work_tells_the_time_of_the_clock_it_is_given() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    uow = UnitOfWork(
        None,  # type: ignore[arg-type]  # the clock needs no session
        outbox=add_messaging_tables(MetaData())[0],
        source="/test",
        clock=clock,
    )
    clock.advance(timedelta(hours=1))
    assert uow.now() == datetime(2026, 1, 1, 1, tzinfo=UTC)
