"""Whether an order's command, or its answer, is still queued: asked of a real broker.

A private Tansu (the consumer groups here carry the suite's real names, which must not
meet the session's stack) and the session's PostgreSQL with the order schema. The
outbox rows are written as the relay leaves them; the consumer groups' positions are
committed by real consumers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from sqlalchemy import insert

from orderly_dev.servers import Kafka, free_port
from orderly_kit import migrations
from orderly_kit.db import Database
from orderly_kit.service import consumer_group
from orderly_kit.topics_admin import ensure_topics
from orderly_order.adapters.command_queue import CommandQueue
from orderly_order.adapters.orm import outbox
from orderly_order.bootstrap import MIGRATIONS
from orderly_schemas import topics

PARTITION = 0


@pytest.fixture
async def database(fresh_database: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    db = Database(fresh_database, pool_size=2)
    yield db
    await db.dispose()


@pytest.fixture
async def queue(kafka: Kafka) -> AsyncIterator[CommandQueue]:
    await ensure_topics(
        kafka.bootstrap,
        partitions=1,
        topics=[topics.INVENTORY_COMMANDS, topics.INVENTORY_EVENTS],
    )
    command_queue = CommandQueue(kafka.bootstrap)
    yield command_queue
    await command_queue.close()


async def produce(kafka: Kafka, topic: str, order_id: UUID) -> int:
    """One record keyed by the order; its offset."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic, b"{}", key=str(order_id).encode(), partition=PARTITION
        )
    finally:
        await producer.stop()
    return int(sent.offset)


async def commit(kafka: Kafka, group: str, topic: str, next_offset: int | None = None) -> None:
    """The group has read ``topic`` up to ``next_offset`` (exclusive; None: to the end)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, PARTITION)
        consumer.assign([tp])
        if next_offset is None:
            next_offset = (await consumer.end_offsets([tp]))[tp]
        await consumer.commit({tp: OffsetAndMetadata(next_offset, "")})
    finally:
        await consumer.stop()


async def outbox_row(database: Database, order_id: UUID, offset: int | None) -> None:
    """ReserveStock in the outbox: unsent (``offset`` None) or sent to ``offset``."""
    async with database.transaction() as session:
        await session.execute(
            insert(outbox).values(
                topic=topics.INVENTORY_COMMANDS,
                message_key=str(order_id),
                message_type="ReserveStock",
                headers={},
                payload=b"{}",
                kafka_partition=None if offset is None else PARTITION,
                kafka_offset=offset,
            )
        )


async def waiting(database: Database, queue: CommandQueue, *orders: UUID) -> set[UUID]:
    async with database.transaction() as session:
        return await queue.still_waiting(session, orders)


HANDLER = consumer_group("inventory")
READER = consumer_group("order")


async def test_a_command_not_yet_relayed_or_not_yet_read_is_queued(
    kafka: Kafka, database: Database, queue: CommandQueue
) -> None:
    unsent, unread, answered = uuid4(), uuid4(), uuid4()
    await outbox_row(database, unsent, None)
    await outbox_row(database, answered, await produce(kafka, topics.INVENTORY_COMMANDS, answered))
    offset = await produce(kafka, topics.INVENTORY_COMMANDS, unread)
    await outbox_row(database, unread, offset)
    await commit(kafka, HANDLER, topics.INVENTORY_COMMANDS, offset)  # up to it, not it
    await commit(kafka, READER, topics.INVENTORY_EVENTS)  # every answer read

    # The broker was asked: the order whose command was read and answered is not waiting.
    assert await waiting(database, queue, unsent, unread, answered) == {unsent, unread}


async def test_a_command_read_is_queued_only_while_its_answer_may_wait_for_us(
    kafka: Kafka, database: Database, queue: CommandQueue
) -> None:
    order = uuid4()
    offset = await produce(kafka, topics.INVENTORY_COMMANDS, order)
    await outbox_row(database, order, offset)
    await commit(kafka, HANDLER, topics.INVENTORY_COMMANDS, offset + 1)
    answer = await produce(kafka, topics.INVENTORY_EVENTS, order)
    await commit(kafka, READER, topics.INVENTORY_EVENTS, answer)  # the answer not read yet

    assert await waiting(database, queue, order) == {order}

    await commit(kafka, READER, topics.INVENTORY_EVENTS, answer + 1)

    assert await waiting(database, queue, order) == set()


async def test_when_the_broker_cannot_be_asked_every_order_waits_again(
    database: Database,
) -> None:
    order = uuid4()
    await outbox_row(database, order, 0)
    unreachable = CommandQueue(f"127.0.0.1:{free_port()}")
    try:
        assert await waiting(database, unreachable, order) == {order}
    finally:
        await unreachable.close()
