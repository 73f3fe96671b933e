"""Purges what the outbox and inbox no longer need, a small batch per short transaction.

Sent outbox rows are history once published. Processed inbox rows guard against
redelivery, so they must outlive every message Kafka could still redeliver (the
retention setting says so). Dead-lettered inbox rows are kept until replayed.
Each batch locks with SKIP LOCKED and gives up quickly on a lock or a slow
statement, so housekeeping never holds up a relay or a consumer.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, Final, cast

from prometheus_client import Counter
from sqlalchemy import CursorResult, Delete, Table, delete, func, select, text, tuple_
from sqlalchemy.exc import DBAPIError

from orderly_kit.db import Database
from orderly_kit.messaging import OUTCOME_DISCARDED, OUTCOME_PROCESSED

log = logging.getLogger(__name__)

DELETED = Counter(
    "orderly_housekeeping_deleted_total",
    "Rows deleted by housekeeping",
    ["service", "table"],
)

LOCK_TIMEOUT: Final = "500ms"
STATEMENT_TIMEOUT: Final = "10s"
# lock_not_available, query_canceled (statement_timeout)
_GAVE_UP: Final = frozenset({"55P03", "57014"})


def purge_sent_outbox_statement(outbox: Table, *, older_than: timedelta, limit: int) -> Delete:
    """Deletes up to ``limit`` of the oldest outbox rows sent more than ``older_than`` ago."""
    batch = (
        select(outbox.c.id)
        .where(outbox.c.sent_at.is_not(None))
        .where(outbox.c.sent_at < func.now() - older_than)
        .order_by(outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return delete(outbox).where(outbox.c.id.in_(batch.scalar_subquery()))


def purge_processed_inbox_statement(
    inbox: Table, *, consumer: str, older_than: timedelta, limit: int
) -> Delete:
    """Deletes up to ``limit`` of ``consumer``'s settled inbox rows older than ``older_than``."""
    batch = (
        select(inbox.c.consumer, inbox.c.message_id)
        .where(inbox.c.consumer == consumer)
        .where(inbox.c.outcome.in_((OUTCOME_PROCESSED, OUTCOME_DISCARDED)))
        .where(inbox.c.processed_at < func.now() - older_than)
        .order_by(inbox.c.processed_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return delete(inbox).where(tuple_(inbox.c.consumer, inbox.c.message_id).in_(batch))


async def purge(
    database: Database, statement: Delete, *, limit: int, service: str, table: str
) -> int:
    """Run ``statement`` (one batch of at most ``limit``) until a batch comes back short."""
    total = 0
    while True:
        try:
            async with database.transaction() as session:
                await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                await session.execute(text(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'"))
                result = await session.execute(statement)
                deleted = int(cast(CursorResult[Any], result).rowcount)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) not in _GAVE_UP:
                raise
            log.warning("housekeeping of %s gave way (%s); next round continues", table, exc.orig)
            return total
        total += deleted
        DELETED.labels(service, table).inc(deleted)
        if deleted < limit:
            return total
        await asyncio.sleep(0)  # let the hot path's tasks run between batches


async def housekeep(
    database: Database,
    *,
    outbox: Table,
    inbox: Table,
    service: str,
    outbox_retention: timedelta,
    inbox_retention: timedelta,
    batch_size: int,
) -> dict[str, int]:
    """One round: purge sent outbox rows, then settled inbox rows; returns rows deleted."""
    deleted = {
        outbox.name: await purge(
            database,
            purge_sent_outbox_statement(outbox, older_than=outbox_retention, limit=batch_size),
            limit=batch_size,
            service=service,
            table=outbox.name,
        ),
        inbox.name: await purge(
            database,
            purge_processed_inbox_statement(
                inbox, consumer=service, older_than=inbox_retention, limit=batch_size
            ),
            limit=batch_size,
            service=service,
            table=inbox.name,
        ),
    }
    if any(deleted.values()):
        log.info("housekeeping deleted %s", deleted)
    return deleted
