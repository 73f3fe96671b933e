"""Nothing is dropped silently, and nothing refused has an effect, on a real broker.

A message of another topic's type (``OrderCancelled`` on ``checkout.orders.v1``) or of a
type the contract does not define is dead-lettered with that reason; a type of the topic
that this service simply does not handle is skipped as before. A message the contract
refuses (an amount no database holds, an unknown field) is dead-lettered naming the field
and never its value. None of them leaves an effect or a "processed" inbox row.

The broker is a private Tansu started for this module: the service joins its consumer
group on the real topic names, which would interfere with the session broker's users.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import Column, Integer, String, Table, insert, select

from orderly_dev.checkout import make_order
from orderly_dev.eventually import eventually
from orderly_dev.servers import Kafka
from orderly_dev.watch import read_topic
from orderly_kit.db import Database, new_metadata
from orderly_kit.messaging import UnitOfWork
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.service import Service, build_service
from orderly_kit.settings import ServiceSettings
from orderly_kit.topics_admin import ensure_topics
from orderly_schemas import topics
from orderly_schemas.base import Message
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.order import OrderCancelled, OrderConfirmed, OrderRejected

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
effects = Table(
    "refused_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_type", String(64), nullable=False),
    Column("order_id", String(64), nullable=False),
)
CHECKOUT_DLQ = topics.dead_letter_topic(topics.CHECKOUT_ORDERS)
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def service(kafka: Kafka, database: Database) -> AsyncIterator[Service]:
    """A service that handles OrderPlaced on checkout.orders.v1 and, of the order
    lifecycle, only OrderConfirmed."""
    await ensure_topics(
        kafka.bootstrap,
        partitions=1,
        topics=[
            topics.CHECKOUT_ORDERS,
            CHECKOUT_DLQ,
            topics.ORDER_EVENTS,
            topics.dead_letter_topic(topics.ORDER_EVENTS),
        ],
    )
    built = build_service(
        ServiceSettings(
            service_name=f"t{uuid.uuid4().hex[:6]}",
            database_url=database.url,
            kafka_bootstrap_servers=kafka.bootstrap,
            consumer_max_attempts=2,
            consumer_retry_backoff_ms=10,
            log_json=False,
        ),
        title="test",
        version="0",
        metadata=metadata,
        outbox=outbox,
        inbox=inbox,
        migrations_dir=Path("."),
    )
    built.database = database
    built.messaging.database = database

    async def record(event: OrderPlaced | OrderConfirmed, uow: UnitOfWork) -> None:
        values = {"message_type": event.message_type(), "order_id": str(event.order_id)}
        await uow.session.execute(insert(effects).values(**values))

    built.subscriber(topics.CHECKOUT_ORDERS).on(OrderPlaced)(record)
    built.subscriber(topics.ORDER_EVENTS).on(OrderConfirmed)(record)
    await built.start()
    yield built
    await built.stop()


async def send(kafka: Kafka, topic: str, body: bytes, *, ce_type: str, key: str) -> str:
    """Publish ``body`` as a producer would, under the CloudEvents type ``ce_type``."""
    envelope = Envelope(type=ce_type, source="/test/producer", subject=key)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic,
            body,
            key=key.encode(),
            headers=[(k, v.encode()) for k, v in envelope.to_headers().items()],
        )
    finally:
        await producer.stop()
    return envelope.id


async def publish(kafka: Kafka, message: Message, key: uuid.UUID) -> str:
    return await send(
        kafka,
        message.topic,
        message.model_dump_json().encode(),
        ce_type=message.message_type(),
        key=str(key),
    )


async def rows(database: Database, table: Table) -> list[dict[str, object]]:
    async with database.transaction() as session:
        return [dict(r._mapping) for r in await session.execute(select(table))]


async def effects_of(database: Database, order_id: object) -> list[str]:
    """The types of the messages that took effect for ``order_id``, in order."""
    return [
        str(r["message_type"])
        for r in await rows(database, effects)
        if r["order_id"] == str(order_id)
    ]


def lifecycle(order: OrderPlaced) -> dict[str, object]:
    return {
        "order_id": order.order_id,
        "order_number": "ORD-0000001",
        "customer_id": order.customer.customer_id,
        "occurred_at": AT,
    }


async def test_another_topics_type_or_an_unknown_one_is_dead_lettered_and_one_not_handled_skipped(
    kafka: Kafka, service: Service, database: Database
) -> None:
    order = make_order(random.Random(1))
    cancelled = OrderCancelled(**lifecycle(order), reason="cancelled by the customer")
    misplaced = await send(
        kafka,
        topics.CHECKOUT_ORDERS,
        cancelled.model_dump_json().encode(),
        ce_type="OrderCancelled",
        key=str(order.order_id),
    )
    unknown = await send(
        kafka,
        topics.CHECKOUT_ORDERS,
        order.model_dump_json().encode(),
        ce_type="OrderTeleported",
        key=str(order.order_id),
    )
    await publish(kafka, OrderRejected(**lifecycle(order), reason="out of stock"), order.order_id)
    # The last of each topic is handled; its partition's messages before it were too.
    placed = await publish(kafka, order, order.order_id)
    confirmed = OrderConfirmed(
        **lifecycle(order),
        customer_email=order.customer.email,
        lines=order.lines,
        total=order.total,
    )
    handled = await publish(kafka, confirmed, order.order_id)

    async def both_handled() -> bool:
        return sorted(await effects_of(database, order.order_id)) == [
            "OrderConfirmed",
            "OrderPlaced",
        ]

    await eventually(both_handled, within=30, what="OrderPlaced and OrderConfirmed handled")

    letters = await read_topic(kafka.bootstrap, CHECKOUT_DLQ, idle_ms=500)
    reasons = {m.headers["ce_id"]: m.headers["dlq_error"] for m in letters}
    assert reasons[misplaced] == (
        "MisplacedMessageError: OrderCancelled belongs on order.events.v1,"
        " not on checkout.orders.v1"
    )
    assert reasons[unknown].startswith(
        "UnknownMessageTypeError: unknown message type 'OrderTeleported'"
    )
    assert await read_topic(kafka.bootstrap, topics.dead_letter_topic(topics.ORDER_EVENTS)) == []
    inbox_rows = [r for r in await rows(database, inbox) if r["message_type"] != "OrderPlaced"]
    outcomes = {r["message_id"]: r["outcome"] for r in inbox_rows}
    assert outcomes == {
        misplaced: "dead_lettered",
        unknown: "dead_lettered",
        handled: "processed",
    }  # and none for the OrderRejected skipped
    placed_outcomes = {r["message_id"]: r["outcome"] for r in await rows(database, inbox)}
    assert placed_outcomes[placed] == "processed"


async def test_an_order_the_contract_refuses_is_dead_lettered_naming_the_field_not_the_value(
    kafka: Kafka, service: Service, database: Database
) -> None:
    rng = random.Random(2)
    too_much = json.loads(make_order(rng).model_dump_json())
    too_much["lines"] = too_much["lines"][:1]
    too_much["lines"][0].update(quantity=1)
    too_much["lines"][0]["unit_price"]["amount"] = 10**30
    too_much["total"]["amount"] = 10**30
    misspelt = json.loads(make_order(rng).model_dump_json())
    misspelt["shipping_address"]["line_2"] = "Hinterhaus, bei Lovelace klingeln"
    sentinel = make_order(rng)
    sent = []
    for body in (too_much, misspelt):
        sent.append(
            await send(
                kafka,
                topics.CHECKOUT_ORDERS,
                json.dumps(body).encode(),
                ce_type="OrderPlaced",
                key=body["order_id"],
            )
        )
    await publish(kafka, sentinel, sentinel.order_id)

    async def sentinel_handled() -> bool:
        return await effects_of(database, sentinel.order_id) == ["OrderPlaced"]

    await eventually(sentinel_handled, within=30, what="the sentinel handled")

    letters = await read_topic(kafka.bootstrap, CHECKOUT_DLQ, idle_ms=500)
    reasons = {m.headers["ce_id"]: m.headers["dlq_error"] for m in letters}
    bound = "Input should be less than or equal to 1000000000000000"
    assert reasons[sent[0]] == (
        f"invalid OrderPlaced: lines.0.unit_price.amount: {bound}; total.amount: {bound}"
    )
    assert reasons[sent[1]] == (
        "invalid OrderPlaced: shipping_address.line_2: Extra inputs are not permitted"
    )
    assert all("Lovelace" not in reason for reason in reasons.values())
    for body in (too_much, misspelt):
        assert await effects_of(database, body["order_id"]) == []
    outcomes = {r["message_id"]: r["outcome"] for r in await rows(database, inbox)}
    assert (outcomes[sent[0]], outcomes[sent[1]]) == ("dead_lettered", "dead_lettered")
