"""The transactional outbox: rows written with the state change, published by a relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from faststream.kafka import KafkaBroker
from opentelemetry import context as otel_context
from opentelemetry import propagate
from prometheus_client import Counter, Gauge, Histogram
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.db import Database, driver_connection

log = logging.getLogger(__name__)

RELAYED = Counter(
    "orderly_outbox_published_total", "Outbox rows published to Kafka", ["service", "topic"]
)
RELAY_ERRORS = Counter(
    "orderly_outbox_publish_errors_total", "Outbox publish attempts that failed", ["service"]
)
RELAY_LAG = Histogram(
    "orderly_outbox_lag_seconds",
    "Time from an outbox row's commit to its publication",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
UNSENT = Gauge("orderly_outbox_unsent", "Outbox rows waiting to be published", ["service"])


class OutboxSignal:
    """Wakes this process's relay when this process commits outbox rows (no NOTIFY)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> None:
        """Return when notified or after ``seconds``, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        # Rows committed before a notify are picked up by the next relay round,
        # so clearing after the wait never loses a wake-up.
        self._event.clear()


def row(
    *,
    topic: str,
    key: str | None,
    message_type: str,
    headers: Mapping[str, str],
    payload: bytes,
) -> dict[str, Any]:
    """One outbox row's values, for ``write_many``."""
    return {
        "topic": topic,
        "message_key": key,
        "message_type": message_type,
        "headers": dict(headers),
        "payload": payload,
    }


async def write_many(session: AsyncSession, outbox: Table, rows: list[dict[str, Any]]) -> None:
    """Add messages to the outbox in one round trip; ids (the relay's order) follow the list."""
    if rows:
        # psycopg's executemany pipelines the rows in list order (so the ids follow it).
        connection = await driver_connection(session)
        async with connection.cursor() as cursor:
            await cursor.executemany(
                f"INSERT INTO {outbox.name} (topic, message_key, message_type, headers, payload)"
                " VALUES (%s, %s, %s, %s, %s)",
                [
                    (
                        r["topic"],
                        r["message_key"],
                        r["message_type"],
                        Jsonb(r["headers"]),
                        r["payload"],
                    )
                    for r in rows
                ],
            )


async def write(
    session: AsyncSession,
    outbox: Table,
    *,
    topic: str,
    key: str | None,
    message_type: str,
    headers: Mapping[str, str],
    payload: bytes,
) -> None:
    """Add one message to the outbox inside the caller's transaction."""
    await write_many(
        session,
        outbox,
        [row(topic=topic, key=key, message_type=message_type, headers=headers, payload=payload)],
    )


@dataclass(frozen=True)
class Unsent:
    """An outbox row the relay is about to publish."""

    id: int
    topic: str
    message_key: str | None
    headers: dict[str, str]
    payload: bytes
    created_at: datetime


class OutboxRelay:
    """Publishes unsent outbox rows in id order; several relays may run at once."""

    def __init__(
        self,
        *,
        database: Database,
        outbox: Table,
        broker: KafkaBroker,
        signal: OutboxSignal,
        service: str,
        batch_size: int = 500,
        poll_interval: float = 0.25,
        forgotten_once_sent: Collection[str] = (),
    ) -> None:
        self.database = database
        self.outbox = outbox
        self.broker = broker
        self.signal = signal
        self.service = service
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._stopping = asyncio.Event()
        # The relay's two statements, as SQL for the driver: a relay round is a
        # transaction of its own, so it skips SQLAlchemy's per-statement machinery
        # (through the session a statement cost about three times the driver's CPU).
        #
        # The oldest unsent rows this relay can lock, less any row whose key has an
        # earlier unsent row locked by another relay: one key's backlog can straddle
        # two relays' batches, and publishing both at once could reorder that key.
        # A held-back row waits for a later round.
        table = outbox.name
        self._claim_batch = (
            f"WITH batch AS (SELECT id, topic, message_key, headers, payload, created_at"
            f" FROM {table} WHERE sent_at IS NULL ORDER BY id LIMIT %(limit)s"
            f" FOR UPDATE SKIP LOCKED)"
            f" SELECT b.* FROM batch b WHERE b.message_key IS NULL OR NOT EXISTS ("
            f"SELECT 1 FROM {table} o WHERE o.sent_at IS NULL"
            f" AND o.message_key = b.message_key AND o.id < (SELECT max(id) FROM batch)"
            f" AND o.id NOT IN (SELECT id FROM batch)) ORDER BY b.id"
        )
        # Sent, and where to: one statement for the whole batch. A message of a type that
        # carries personal data in plaintext (``forgotten_once_sent``) keeps no payload.
        if any(not t.isidentifier() for t in forgotten_once_sent):
            raise ValueError(f"not message types: {sorted(forgotten_once_sent)}")
        forgotten = ", ".join(f"'{t}'" for t in sorted(forgotten_once_sent))
        payload = (
            f", payload = CASE WHEN {table}.message_type IN ({forgotten})"
            f" THEN ''::bytea ELSE {table}.payload END"
            if forgotten
            else ""
        )
        self._mark_sent = (
            f"UPDATE {table} SET sent_at = now(), kafka_partition = v.p, kafka_offset = v.o"
            f"{payload}"
            " FROM unnest(%(ids)s::bigint[], %(partitions)s::int[], %(offsets)s::bigint[])"
            f" AS v(id, p, o) WHERE {table}.id = v.id"
        )

    async def run(self) -> None:
        """Relay until stopped; a failure backs off and tries again, nothing is skipped."""
        backoff = self.poll_interval
        while not self._stopping.is_set():
            try:
                sent = await self.relay_once()
                backoff = self.poll_interval
            except asyncio.CancelledError:
                raise
            except Exception:
                RELAY_ERRORS.labels(self.service).inc()
                log.exception("outbox relay failed; retrying in %.2fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if sent < self.batch_size:
                await self.signal.wait(self.poll_interval)

    def stop(self) -> None:
        self._stopping.set()
        self.signal.notify()

    async def relay_once(self) -> int:
        """Publish one batch; returns how many rows were published."""
        async with self.database.driver_transaction() as connection:
            cursor = connection.cursor(row_factory=class_row(Unsent))
            await cursor.execute(self._claim_batch, {"limit": self.batch_size})
            rows = await cursor.fetchall()
            if not rows:
                UNSENT.labels(self.service).set(0)
                return 0
            futures = [await self._publish(row) for row in rows]
            sent: list[tuple[int, int, int]] = []  # (row id, partition, offset)
            # Keep the published prefix only: a row after a failure waits for the
            # next round so that one key's messages never overtake each other.
            for row, future in zip(rows, futures, strict=True):
                try:
                    metadata = await future
                except Exception:
                    RELAY_ERRORS.labels(self.service).inc()
                    log.exception("publishing outbox row %s to %s failed", row.id, row.topic)
                    break
                sent.append((row.id, metadata.partition, metadata.offset))
            if sent:
                ids, partitions, offsets = (list(column) for column in zip(*sent, strict=True))
                await cursor.execute(
                    self._mark_sent, {"ids": ids, "partitions": partitions, "offsets": offsets}
                )
        now = time.time()
        for row in rows[: len(sent)]:
            RELAYED.labels(self.service, row.topic).inc()
            RELAY_LAG.labels(self.service).observe(max(0.0, now - row.created_at.timestamp()))
        return len(sent)

    async def _publish(self, row: Unsent) -> asyncio.Future[Any]:
        headers: dict[str, str] = dict(row.headers)
        # Continue the trace of the transaction that wrote the row.
        token = otel_context.attach(propagate.extract(headers))
        try:
            future: asyncio.Future[Any] = await self.broker.publish(
                bytes(row.payload),
                topic=row.topic,
                key=row.message_key.encode() if row.message_key else None,
                headers=headers,
                correlation_id=headers.get("ce_correlationid"),
                no_confirm=True,
            )
        finally:
            otel_context.detach(token)
        return future


async def refresh_unsent(database: Database, outbox: Table, service: str) -> int:
    """Set ``orderly_outbox_unsent`` to the rows waiting now (the partial index counts)."""
    async with database.transaction() as session:
        unsent = await count_unsent(session, outbox)
    UNSENT.labels(service).set(unsent)
    return unsent


async def count_unsent(session: AsyncSession, outbox: Table) -> int:
    result = await session.execute(
        select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
    )
    return int(result.scalar_one())
