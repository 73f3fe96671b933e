"""What time it is, passed in: the service's clock, read through its units of work.

Use cases ask ``uow.now()`` (or ``messaging.clock()`` outside a transaction) instead of
calling ``datetime.now`` themselves, so that a test can move time on with a
``ManualClock`` instead of sleeping through a deadline or a backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

#: A clock: called for the current time, always timezone-aware UTC.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The system clock, in UTC: every service's clock outside tests."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until a test moves it on."""

    def __init__(self, start: datetime | None = None) -> None:
        moment = start or utc_now()
        if moment.tzinfo is None:
            raise ValueError("a clock's time must be timezone-aware")
        self._now = moment.astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, by: timedelta) -> datetime:
        """Move the clock on by ``by`` (not backwards); the new time."""
        if by < timedelta(0):
            raise ValueError(f"a clock does not go back: {by}")
        self._now += by
        return self._now
