"""The runtime's promises, on real PostgreSQL and a real broker.

Outbox: every row published once, per-key order kept, with two relays racing.
Inbox: a redelivered message changes nothing. Retries: a transient failure is
retried, a persistent one and a poison message go to ``<topic>.dlq`` with the
reason, the attempt count and the original headers.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, String, Table, func, insert, select

from orderly_dev.checkout import headers_for, make_order
from orderly_dev.eventually import eventually
from orderly_dev.servers import Servers
from orderly_dev.watch import read_topic
from orderly_kit.db import Database, new_metadata
from orderly_kit.messaging import UnitOfWork
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.outbox import OutboxRelay, OutboxSignal, count_unsent, write
from orderly_kit.service import Service, build_service
from orderly_kit.settings import ServiceSettings
from orderly_kit.topics_admin import ensure_topics
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.topics import dead_letter_topic

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
effects = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(64), nullable=False),
)


async def new_topic(servers: Servers) -> str:
    name = f"test.{uuid.uuid4().hex[:10]}"
    await ensure_topics(
        servers.kafka.bootstrap, partitions=3, topics=[name, dead_letter_topic(name)]
    )
    return name


async def test_two_relays_publish_every_row_once_in_key_order(
    servers: Servers, database: Database
) -> None:
    topic = await new_topic(servers)
    keys = [str(uuid.uuid4()) for _ in range(10)]
    async with database.transaction() as session:
        for n in range(300):
            key = keys[n % len(keys)]
            await write(
                session,
                outbox,
                topic=topic,
                key=key,
                message_type="Sequence",
                headers={"ce_id": str(uuid.uuid4()), "ce_type": "Sequence"},
                payload=json.dumps({"key": key, "n": n}).encode(),
            )
    brokers = [KafkaBroker(servers.kafka.bootstrap) for _ in range(2)]
    for b in brokers:
        await b.start()
    relays = [
        OutboxRelay(
            database=database,
            outbox=outbox,
            broker=b,
            signal=OutboxSignal(),
            service="test",
            batch_size=25,
            poll_interval=0.05,
        )
        for b in brokers
    ]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        await eventually(lambda: _all_sent(database), within=10, what="every outbox row sent")
    finally:
        for r in relays:
            r.stop()
        await asyncio.gather(*tasks)
        for b in brokers:
            await b.stop()
    published = await read_topic(servers.kafka.bootstrap, topic)
    numbers = [m.body["n"] for m in published]
    assert sorted(numbers) == list(range(300)), "every row exactly once"
    for key in keys:
        ordered = [
            m.body["n"] for m in sorted(published, key=lambda m: m.offset) if m.body["key"] == key
        ]
        assert ordered == sorted(ordered), f"key {key} out of order"
    # Each row remembers where it went.
    async with database.transaction() as session:
        recorded = {
            json.loads(r.payload)["n"]: (r.kafka_partition, r.kafka_offset)
            for r in await session.execute(
                select(outbox.c.payload, outbox.c.kafka_partition, outbox.c.kafka_offset)
            )
        }
    assert recorded == {m.body["n"]: (m.partition, m.offset) for m in published}


async def test_a_message_carrying_personal_data_keeps_no_payload_once_sent(
    servers: Servers, database: Database
) -> None:
    topic = await new_topic(servers)
    async with database.transaction() as session:
        for kind in ("Personal", "Plain"):
            await write(
                session,
                outbox,
                topic=topic,
                key="k",
                message_type=kind,
                headers={"ce_id": str(uuid.uuid4()), "ce_type": kind},
                payload=json.dumps({"kind": kind, "email": "ada@example.com"}).encode(),
            )
    broker = KafkaBroker(servers.kafka.bootstrap)
    await broker.start()
    relay = OutboxRelay(
        database=database,
        outbox=outbox,
        broker=broker,
        signal=OutboxSignal(),
        service="test",
        forgotten_once_sent=["Personal"],
    )
    try:
        assert await relay.relay_once() == 2
    finally:
        await broker.stop()

    published = await read_topic(servers.kafka.bootstrap, topic)
    async with database.sessions() as session:
        rows = await session.execute(select(outbox.c.message_type, outbox.c.payload))
        kept: dict[str, bytes] = {kind: payload for kind, payload in rows}
    assert [m.body["kind"] for m in published] == ["Personal", "Plain"]  # sent whole
    assert kept["Personal"] == b""
    assert json.loads(kept["Plain"])["kind"] == "Plain"


async def _all_sent(database: Database) -> bool:
    async with database.transaction() as session:
        return await count_unsent(session, outbox) == 0


async def running_service(
    servers: Servers,
    database: Database,
    topic: str,
    handler_behaviour: list[str],
    *,
    fail_for: frozenset[str] = frozenset(),
) -> Service:
    settings = ServiceSettings(
        service_name=f"t{uuid.uuid4().hex[:6]}",
        database_url=database.url,
        kafka_bootstrap_servers=servers.kafka.bootstrap,
        consumer_max_attempts=3,
        consumer_retry_backoff_ms=10,
        log_json=False,
    )
    service = build_service(
        settings,
        title="test",
        version="0",
        metadata=metadata,
        outbox=outbox,
        inbox=inbox,
        migrations_dir=Path("."),
    )
    service.database = database
    service.messaging.database = database
    attempts: dict[str, int] = {}

    @service.subscriber(topic).on(OrderPlaced)
    async def on_order_placed(event: OrderPlaced, uow: UnitOfWork) -> None:
        key = str(event.order_id)
        attempts[key] = attempts.get(key, 0) + 1
        await uow.session.execute(insert(effects).values(order_id=key))
        behaviour = handler_behaviour[0] if handler_behaviour else "ok"
        if behaviour == "fail-twice" and attempts[key] <= 2:
            raise ConnectionError("provider unavailable")
        if behaviour == "always-fail" or key in fail_for:
            raise RuntimeError("cannot ever work")

    await service.start()
    return service


async def effects_for(database: Database, order_id: uuid.UUID) -> int:
    async with database.transaction() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(effects).where(effects.c.order_id == str(order_id))
            )
            or 0
        )


async def send(
    servers: Servers, topic: str, value: bytes, headers: list[tuple[str, bytes]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k", headers=headers)
    finally:
        await producer.stop()


async def test_redelivered_message_takes_effect_once(servers: Servers, database: Database) -> None:
    topic = await new_topic(servers)
    service = await running_service(servers, database, topic, ["ok"])
    try:
        order = make_order(random.Random(1))
        headers = headers_for(order)
        for _ in range(3):
            await send(servers, topic, order.model_dump_json().encode(), headers)
        # A sentinel on the same key, so the same partition: once it took effect, the
        # consumer had handled all three deliveries before it.
        sentinel = make_order(random.Random(10))
        await send(servers, topic, sentinel.model_dump_json().encode(), headers_for(sentinel))
        await eventually(
            lambda: effects_for(database, sentinel.order_id),
            within=20,
            what="the sentinel's effect",
        )
        assert await effects_for(database, order.order_id) == 1
    finally:
        await service.stop()


async def _inbox_count(database: Database, n: int) -> bool:
    async with database.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(inbox)) or 0) >= n


async def test_transient_failure_is_retried_and_takes_effect_once(
    servers: Servers, database: Database
) -> None:
    topic = await new_topic(servers)
    service = await running_service(servers, database, topic, ["fail-twice"])
    try:
        order = make_order(random.Random(2))
        await send(servers, topic, order.model_dump_json().encode(), headers_for(order))
        await eventually(lambda: _inbox_count(database, 1), within=20, what="1 inbox row")
        # The two failed attempts rolled back their effects; the third committed.
        assert await effects_for(database, order.order_id) == 1
        assert (
            await read_topic(servers.kafka.bootstrap, dead_letter_topic(topic), idle_ms=500) == []
        )
    finally:
        await service.stop()


async def test_persistent_failure_and_poison_go_to_dead_letter_topic(
    servers: Servers, database: Database
) -> None:
    topic = await new_topic(servers)
    service = await running_service(servers, database, topic, ["always-fail"])
    try:
        order = make_order(random.Random(3))
        headers = headers_for(order)
        await send(servers, topic, order.model_dump_json().encode(), headers)
        poison = json.loads(make_order(random.Random(4)).model_dump_json())
        poison["total"]["currency"] = "eur"
        await send(servers, topic, json.dumps(poison).encode(), headers_for(make_order()))
        await eventually(lambda: _inbox_count(database, 2), within=20, what="2 inbox rows")
        await eventually(
            lambda: _has(servers, dead_letter_topic(topic), 2), within=20, what="2 dead letters"
        )
        letters = await read_topic(servers.kafka.bootstrap, dead_letter_topic(topic), idle_ms=500)
        failing = next(m for m in letters if m.headers["ce_id"] == dict(headers)["ce_id"].decode())
        assert failing.headers["dlq_attempts"] == "3"
        assert "cannot ever work" in failing.headers["dlq_error"]
        assert failing.headers["ce_type"] == "OrderPlaced"  # original headers kept
        bad = next(m for m in letters if m is not failing)
        assert bad.headers["dlq_attempts"] == "1"  # no retries for poison
        assert "total.currency" in bad.headers["dlq_error"]
        assert await effects_for(database, order.order_id) == 0
    finally:
        await service.stop()


async def _has(servers: Servers, topic: str, n: int) -> bool:
    return len(await read_topic(servers.kafka.bootstrap, topic, idle_ms=300)) >= n


async def test_a_backlog_is_handled_in_batches_and_a_bad_message_costs_only_itself(
    servers: Servers, database: Database
) -> None:
    """Forty orders wait before the service starts, so its polls return batches across
    three partitions: one order's handler always fails, one order arrives twice, and one
    message is poison. Every other order takes effect exactly once."""
    topic = await new_topic(servers)
    rng = random.Random(7)
    orders = [make_order(rng) for _ in range(40)]
    failing, repeated = orders[17], orders[23]
    # The repeat carries the same headers, so the same message id: a true redelivery.
    headers = {order.order_id: headers_for(order) for order in orders}
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka.bootstrap)
    await producer.start()
    try:
        for order in [*orders, repeated]:
            await producer.send(
                topic,
                order.model_dump_json().encode(),
                key=str(order.order_id).encode(),
                headers=headers[order.order_id],
            )
        poison = json.loads(make_order(rng).model_dump_json())
        poison["total"]["currency"] = "eur"
        await producer.send_and_wait(
            topic, json.dumps(poison).encode(), key=b"k", headers=headers_for(make_order(rng))
        )
    finally:
        await producer.stop()
    service = await running_service(
        servers, database, topic, [], fail_for=frozenset({str(failing.order_id)})
    )
    try:
        await eventually(lambda: _inbox_count(database, 41), within=20, what="41 inbox rows")
        await eventually(
            lambda: _has(servers, dead_letter_topic(topic), 2), within=20, what="2 dead letters"
        )
        for order in orders:
            expected = 0 if order is failing else 1
            assert await effects_for(database, order.order_id) == expected, order.order_id
        letters = await read_topic(servers.kafka.bootstrap, dead_letter_topic(topic), idle_ms=500)
        reasons = sorted(m.headers["dlq_error"] for m in letters)
        assert len(letters) == 2
        assert "cannot ever work" in reasons[0] or "cannot ever work" in reasons[1]
        assert any("total.currency" in r for r in reasons)
        # The failing order's batch was tried together, then its messages one by one.
        fallbacks = REGISTRY.get_sample_value(
            "orderly_batch_fallbacks_total",
            {"service": service.settings.service_name, "topic": topic},
        )
        assert (fallbacks or 0) >= 1
    finally:
        await service.stop()
