"""A unit of work without a database, for use-case unit tests (cosmicpython's fake UoW).

It hands every use case the repository the test gave it (an in-memory one, written in
the service's tests against the port in its ``adapters/``), keeps what is published in
``published`` (the kit's own ``publish`` makes each envelope and outbox row, which it
keeps instead of writing) and what is audited in ``audited``, tells the time by a
``ManualClock`` and commits nothing.

It lives here, beside ``checkout.make_order``, rather than in the kit: it is a test
double, and the kit is the runtime every service ships.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, NoReturn, TypeVar, cast

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.clock import ManualClock
from orderly_kit.messaging import UnitOfWork
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.personal_data import Vault
from orderly_schemas.cloudevents import Envelope

#: The repository a test hands to its use cases.
R = TypeVar("R")

#: Where the fake would write messages, were it to write any (it never does).
_OUTBOX, _ = add_messaging_tables(MetaData())


class _NoDatabase:
    """The session of a unit of work without a database: a use case that touches it fails."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(
            f"the use case used the database session (.{name}) of an in-memory unit of work;"
            " put the statement behind the service's repository"
        )


class FakeUnitOfWork(UnitOfWork, Generic[R]):
    """One transaction in memory over ``repository``: publishes into ``published``."""

    def __init__(
        self,
        repository: R,
        *,
        clock: ManualClock | None = None,
        cause: Envelope | None = None,
        service: str = "test",
        vault: Vault | None = None,
    ) -> None:
        self.clock = clock or ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
        super().__init__(
            cast(AsyncSession, _NoDatabase()),
            outbox=_OUTBOX,
            source=f"/orderly/{service}",
            cause=cause,
            pending=[],
            clock=self.clock,
            vault=vault,
            audit_pending=[],
        )
        self.repo = repository

    def repository(self, build: Callable[[UnitOfWork], Any]) -> Any:
        """The test's repository, whatever the use case would have built on a session."""
        return self.repo

    def published_types(self) -> list[str]:
        """The types of the messages published, in order."""
        return [message.message_type() for message in self.published]
