"""Signed webhooks sent from a table of owed deliveries: leased, retried, given up visibly.

A sender (the simulated carrier, the simulated payment providers) keeps each delivery
it owes as a row of its own table, with at least ``id``, ``attempts``, ``sent_at``,
``given_up_at``, ``last_error`` and a column saying when the next attempt is due.

Locking rule: a scan claims due rows with FOR UPDATE SKIP LOCKED and, in the same
committed statement, counts the attempt and pushes the due time one ``lease`` ahead.
So replicas share the work and never send a row at the same time, and a sender that
dies mid-send leaves a row that the next scan takes once the lease runs out. A row may
thus be delivered twice: receivers dedup by the delivery id in the body.

A 2xx answer marks the row sent; anything else reschedules it with exponential backoff.
After ``MAX_ATTEMPTS`` failed attempts (about an hour with the default backoff) the row
is given up: marked ``given_up_at`` with the last error, logged once at ERROR, counted
in ``orderly_webhook_deliveries_given_up``, and never claimed again until an operator
retries it (``retry_given_up``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
from prometheus_client import Gauge
from sqlalchemy import ColumnElement, Table, and_, exists, func, select, true, update

from orderly_kit import webhook_signature
from orderly_kit.clock import Clock, utc_now
from orderly_kit.db import Database

log = logging.getLogger(__name__)

#: How long a claim holds a row: due again after this if the sender died while sending.
LEASE: Final = timedelta(seconds=60)
#: The wait after the first failed attempt, doubling after each, up to the maximum.
RETRY_BACKOFF: Final = timedelta(seconds=1)
RETRY_BACKOFF_MAX: Final = timedelta(minutes=5)
#: Failed attempts before a delivery is given up: about an hour with the backoff above.
MAX_ATTEMPTS: Final = 20
TIMEOUT_SECONDS: Final = 10.0
#: Rows claimed per scan, and how many are POSTed at once: each answer takes a database
#: connection from the pool the service's consumers share.
BATCH: Final = 50
CONCURRENCY: Final = 4
#: The longest error kept with a row (the receiver's status and the start of its answer).
ERROR_LENGTH: Final = 2000

GIVEN_UP = Gauge(
    "orderly_webhook_deliveries_given_up",
    "Webhook deliveries a sender gave up on after its maximum attempts (retry them once the"
    " receiver is fixed)",
    ["sender"],
)

Row = Mapping[str, Any]


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: doubling, capped at the maximum."""
    return min(RETRY_BACKOFF * (1 << max(attempts - 1, 0)), RETRY_BACKOFF_MAX)


class WebhookSender:
    """Sends the rows of ``table`` that are due, signed, and remembers how each attempt went.

    ``due`` is the column that says when a row's next attempt is due; ``body`` turns a
    claimed row into the bytes to POST and ``describe`` names it in logs (neither may put
    personal data or secrets in the description). ``owner`` limits the sender to its own
    rows of a shared table; with ``in_order_of`` (a column such as a parcel's tracking
    number) only the earliest pending row of each value is sent, so they arrive in order.
    ``clock`` says when rows are due and when they were sent (each request is still signed
    with the system clock, which the receiver checks it against).
    """

    def __init__(
        self,
        database: Database,
        *,
        name: str,
        table: Table,
        due: str,
        body: Callable[[Row], bytes],
        describe: Callable[[Row], str],
        owner: ColumnElement[bool] | None = None,
        in_order_of: str | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        clock: Clock = utc_now,
    ) -> None:
        self.name = name
        self.max_attempts = max_attempts
        self._clock = clock
        self._database = database
        self._table = table
        self._due = table.c[due]
        self._body = body
        self._describe = describe
        self._owner: ColumnElement[bool] = true() if owner is None else owner
        c = table.c
        self._pending = and_(c.sent_at.is_(None), c.given_up_at.is_(None))
        self._given_up = and_(c.sent_at.is_(None), c.given_up_at.is_not(None))
        self._first_pending: ColumnElement[bool] = true()
        if in_order_of is not None:
            earlier = table.alias("earlier")
            self._first_pending = ~exists().where(
                earlier.c[in_order_of] == c[in_order_of],
                earlier.c.id < c.id,
                earlier.c.sent_at.is_(None),
                earlier.c.given_up_at.is_(None),
            )

    async def send_due(
        self,
        client: httpx.AsyncClient,
        *,
        url: str,
        secret: str,
        now: datetime | None = None,
        batch: int = BATCH,
    ) -> int:
        """POST the rows that are due to ``url``, signed with ``secret``; how many it took."""
        at = now or self._clock()
        claimed = await self._claim(at, batch)
        slots = asyncio.Semaphore(CONCURRENCY)

        async def send(row: Row) -> None:
            async with slots:
                await self._send(client, row, url=url, secret=secret, now=at)

        await asyncio.gather(*(send(row) for row in claimed))
        return len(claimed)

    async def _claim(self, now: datetime, batch: int) -> list[Row]:
        c = self._table.c
        due = (
            select(c.id)
            .where(self._owner, self._pending, self._due <= now, self._first_pending)
            .order_by(self._due, c.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        async with self._database.engine.begin() as conn:
            rows = await conn.execute(
                update(self._table)
                .where(c.id.in_(due.scalar_subquery()))
                .values({c.attempts: c.attempts + 1, self._due: now + LEASE})
                .returning(self._table)
            )
            return [dict(r) for r in rows.mappings()]

    async def _send(
        self, client: httpx.AsyncClient, row: Row, *, url: str, secret: str, now: datetime
    ) -> None:
        error = await webhook_signature.post_signed(
            client, url, self._body(row), secret=secret, timeout_seconds=TIMEOUT_SECONDS
        )
        values: dict[Any, Any]
        c = self._table.c
        attempts: int = row["attempts"]
        if error is None:
            values = {c.sent_at: self._clock(), c.last_error: None}
        elif attempts >= self.max_attempts:
            log.error(
                "%s gives up on %s after %d attempts: %s",
                self.name,
                self._describe(row),
                attempts,
                error,
            )
            values = {c.given_up_at: now, c.last_error: error[:ERROR_LENGTH]}
            GIVEN_UP.labels(self.name).inc()
        else:
            retry_at = now + backoff(attempts)
            log.warning(
                "%s: %s not accepted (attempt %d), next attempt at %s: %s",
                self.name,
                self._describe(row),
                attempts,
                retry_at.isoformat(),
                error,
            )
            values = {self._due: retry_at, c.last_error: error[:ERROR_LENGTH]}
        async with self._database.engine.begin() as conn:
            await conn.execute(update(self._table).where(c.id == row["id"]).values(values))

    async def count_given_up(self) -> int:
        """Count the rows given up and still kept, and show it in the gauge."""
        async with self._database.engine.connect() as conn:
            given_up = await conn.scalar(
                select(func.count()).select_from(self._table).where(self._owner, self._given_up)
            )
        GIVEN_UP.labels(self.name).set(given_up or 0)
        return int(given_up or 0)

    async def retry_given_up(self, *, now: datetime | None = None) -> int:
        """Make every given-up row due again with its attempts reset; how many there were."""
        c = self._table.c
        async with self._database.engine.begin() as conn:
            retried = await conn.execute(
                update(self._table)
                .where(self._owner, self._given_up)
                .values({c.given_up_at: None, c.attempts: 0, self._due: now or self._clock()})
                .returning(c.id)
            )
            count = len(retried.all())
        if count:
            log.info("%s retries %d given-up webhook deliveries", self.name, count)
        await self.count_given_up()
        return count
