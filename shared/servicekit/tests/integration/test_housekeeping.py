"""Housekeeping on real PostgreSQL: only what is old and settled goes, and nothing waits on it."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY
from sqlalchemy import func, insert, select, text, update

from orderly_dev.eventually import eventually
from orderly_dev.servers import Servers
from orderly_dev.watch import read_topic
from orderly_kit.db import Database, new_metadata
from orderly_kit.housekeeping import housekeep
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.outbox import OutboxRelay, OutboxSignal, count_unsent, refresh_unsent, write
from orderly_kit.topics_admin import ensure_topics

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
SERVICE = "keeper"
WEEK, FORTNIGHT = timedelta(days=7), timedelta(days=14)


async def add_outbox_row(db: Database, name: str, *, sent_ago: timedelta | None) -> None:
    async with db.transaction() as session:
        await write(
            session,
            outbox,
            topic="t",
            key=name,
            message_type="Test",
            headers={"ce_id": name},
            payload=b"{}",
        )
        if sent_ago is not None:
            await session.execute(
                update(outbox)
                .where(outbox.c.message_key == name)
                .values(sent_at=func.now() - sent_ago, created_at=func.now() - sent_ago)
            )


async def add_inbox_row(
    db: Database, name: str, *, outcome: str, ago: timedelta, consumer: str = SERVICE
) -> None:
    async with db.transaction() as session:
        await session.execute(
            insert(inbox).values(
                consumer=consumer,
                message_id=name,
                topic="t",
                outcome=outcome,
                processed_at=func.now() - ago,
            )
        )


async def remaining(db: Database) -> tuple[set[str], set[str]]:
    async with db.transaction() as session:
        keys = set((await session.scalars(select(outbox.c.message_key))).all())
        ids = set((await session.scalars(select(inbox.c.message_id))).all())
    return {k for k in keys if k}, ids


def deleted_total(table: str) -> float:
    labels = {"service": SERVICE, "table": table}
    return REGISTRY.get_sample_value("orderly_housekeeping_deleted_total", labels) or 0.0


async def test_only_old_sent_outbox_rows_and_old_processed_inbox_rows_are_purged(
    database: Database,
) -> None:
    for n in range(5):
        await add_outbox_row(database, f"old-sent-{n}", sent_ago=timedelta(days=8))
    await add_outbox_row(database, "recent-sent", sent_ago=timedelta(hours=1))
    await add_outbox_row(database, "unsent", sent_ago=None)
    async with database.transaction() as session:  # unsent for a long time: still never purged
        await session.execute(
            update(outbox)
            .where(outbox.c.message_key == "unsent")
            .values(created_at=func.now() - timedelta(days=30))
        )
    for n in range(3):
        await add_inbox_row(
            database, f"old-processed-{n}", outcome="processed", ago=timedelta(days=15)
        )
    await add_inbox_row(database, "old-discarded", outcome="discarded", ago=timedelta(days=15))
    await add_inbox_row(database, "recent-processed", outcome="processed", ago=timedelta(days=1))
    await add_inbox_row(
        database, "old-dead-lettered", outcome="dead_lettered", ago=timedelta(days=60)
    )
    await add_inbox_row(
        database, "other-consumer", outcome="processed", ago=timedelta(days=15), consumer="other"
    )
    before = deleted_total("outbox"), deleted_total("inbox")

    deleted = await housekeep(
        database,
        outbox=outbox,
        inbox=inbox,
        service=SERVICE,
        outbox_retention=WEEK,
        inbox_retention=FORTNIGHT,
        batch_size=2,  # several batches, the last one short
    )

    assert deleted == {"outbox": 5, "inbox": 4}
    assert await remaining(database) == (
        {"recent-sent", "unsent"},
        {"recent-processed", "old-dead-lettered", "other-consumer"},
    )
    assert (deleted_total("outbox"), deleted_total("inbox")) == (before[0] + 5, before[1] + 4)


async def test_a_row_locked_by_someone_else_is_skipped_without_waiting(
    database: Database,
) -> None:
    await add_outbox_row(database, "locked", sent_ago=timedelta(days=8))
    await add_outbox_row(database, "free", sent_ago=timedelta(days=8))
    async with database.transaction() as holder:
        await holder.execute(
            select(outbox.c.id).where(outbox.c.message_key == "locked").with_for_update()
        )
        deleted = await asyncio.wait_for(
            housekeep(
                database,
                outbox=outbox,
                inbox=inbox,
                service=SERVICE,
                outbox_retention=WEEK,
                inbox_retention=FORTNIGHT,
                batch_size=10,
            ),
            timeout=5,
        )
    assert deleted["outbox"] == 1
    assert (await remaining(database))[0] == {"locked"}


async def test_housekeeping_runs_beside_a_publishing_relay(
    servers: Servers, database: Database
) -> None:
    topic = f"test.{uuid.uuid4().hex[:10]}"
    await ensure_topics(servers.kafka.bootstrap, partitions=3, topics=[topic])
    broker = KafkaBroker(servers.kafka.bootstrap)
    await broker.start()
    signal = OutboxSignal()
    relay = OutboxRelay(
        database=database,
        outbox=outbox,
        broker=broker,
        signal=signal,
        service=SERVICE,
        batch_size=20,
        poll_interval=0.02,
    )
    relay_errors = REGISTRY.get_sample_value(
        "orderly_outbox_publish_errors_total", {"service": SERVICE}
    )
    relay_task = asyncio.create_task(relay.run())
    stop = asyncio.Event()

    async def produce() -> None:
        for n in range(400):
            async with database.transaction() as session:
                await write(
                    session,
                    outbox,
                    topic=topic,
                    key=f"k{n % 7}",
                    message_type="Seq",
                    headers={"ce_id": str(uuid.uuid4())},
                    payload=json.dumps({"n": n}).encode(),
                )
            signal.notify()
            if n % 20 == 0:
                await asyncio.sleep(0.01)

    async def keep_house() -> int:
        total = 0
        while not stop.is_set():
            deleted = await housekeep(
                database,
                outbox=outbox,
                inbox=inbox,
                service=SERVICE,
                outbox_retention=timedelta(0),  # every sent row, as soon as it is sent
                inbox_retention=FORTNIGHT,
                batch_size=15,
            )
            total += deleted["outbox"]
            await asyncio.sleep(0.01)
        return total

    keeper = asyncio.create_task(keep_house())
    try:
        await produce()
        await eventually(lambda: _all_sent(database), within=15, what="every outbox row sent")
    finally:
        stop.set()
        purged = await keeper
        relay.stop()
        await relay_task
        await broker.stop()

    published = await read_topic(servers.kafka.bootstrap, topic)
    assert sorted(m.body["n"] for m in published) == list(range(400))
    async with database.transaction() as session:
        left = await session.scalar(text("SELECT count(*) FROM outbox"))
    assert purged + int(left or 0) == 400
    assert purged > 0
    assert (
        REGISTRY.get_sample_value("orderly_outbox_publish_errors_total", {"service": SERVICE})
        == relay_errors
    )


async def _all_sent(database: Database) -> bool:
    async with database.transaction() as session:
        return await count_unsent(session, outbox) == 0


async def test_the_unsent_gauge_counts_the_rows_waiting_for_the_relay(database: Database) -> None:
    for name in ("a", "b", "c"):
        await add_outbox_row(database, name, sent_ago=None)
    await add_outbox_row(database, "old", sent_ago=WEEK)

    counted = await refresh_unsent(database, outbox, SERVICE)

    assert counted == 3
    gauge = REGISTRY.get_sample_value("orderly_outbox_unsent", {"service": SERVICE})
    assert gauge == 3
