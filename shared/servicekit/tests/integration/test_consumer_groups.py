"""A service serves HTTP as soon as its database answers; its consumer groups join in the
background and say how they are doing (/health/consumers and the metrics).

On a real PostgreSQL, with the session's Tansu broker, or with a broker address where
nothing listens.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY, generate_latest
from sqlalchemy import func, select

from orderly_dev.checkout import headers_for, make_order
from orderly_dev.eventually import eventually
from orderly_dev.servers import Servers, free_port, start_tansu
from orderly_kit.db import Database, new_metadata
from orderly_kit.idle_polling import Polling
from orderly_kit.messaging import UnitOfWork
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.service import Service, build_service, consumer_group
from orderly_kit.settings import ServiceSettings
from orderly_kit.topics_admin import ensure_topics
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.topics import dead_letter_topic

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)


def a_service(database: Database, bootstrap: str, *topics: str, **settings_: Any) -> Service:
    settings = ServiceSettings(
        service_name=f"t{uuid.uuid4().hex[:6]}",
        database_url=database.url,
        kafka_bootstrap_servers=bootstrap,
        kafka_session_timeout_ms=6000,
        log_json=False,
        **settings_,
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

    for topic in topics:

        @service.subscriber(topic).on(OrderPlaced)
        async def on_order_placed(event: OrderPlaced, uow: UnitOfWork) -> None:
            del event, uow

    return service


async def publish_an_order(service: Service, topic: str, rng: random.Random) -> None:
    """An OrderPlaced on ``topic``, as checkout publishes it."""
    order = make_order(rng)
    await service.broker.publish(
        order.model_dump_json().encode(),
        topic,
        key=str(order.order_id).encode(),
        headers={k: v.decode() for k, v in headers_for(order)},
    )


def client(service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=service.http), base_url="http://t")


def metric(name: str, **labels: str) -> float | None:
    value = REGISTRY.get_sample_value(name, labels)
    return None if value is None else float(value)


async def test_the_api_serves_while_the_broker_is_unreachable_and_names_the_failing_group(
    database: Database,
) -> None:
    topic = "checkout.orders.v1"
    service = a_service(database, f"127.0.0.1:{free_port()}", topic)
    group = consumer_group(service.settings.service_name)
    assert group == service.group == f"orderly.{service.settings.service_name}"
    await asyncio.wait_for(service.start(), 10)
    try:
        async with client(service) as http:
            ready = await http.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok"}

            async def failing() -> httpx.Response | None:
                consumers = await http.get("/health/consumers")
                return consumers if consumers.json()["groups"][0]["state"] == "failing" else None

            consumers = await eventually(failing, within=20, what="the group failing")
            state = consumers.json()["groups"][0]
            assert consumers.status_code == 503
            assert state["group"] == group
            assert state["state"] == "failing", state
            assert "KafkaConnectionError" in state["error"], state
            assert consumers.json()["waiting"] == [f"{group} (failing)"]
            assert consumers.json()["broker"].startswith("error")

        assert (
            metric(
                "orderly_consumer_group_assigned",
                service=service.settings.service_name,
                group=group,
            )
            == 0
        )
        assert (
            metric(
                "orderly_consumer_group_state",
                service=service.settings.service_name,
                group=group,
                state="failing",
            )
            == 1
        )
        with pytest.raises(TimeoutError, match=f"{group} failing"):
            await service.consumer_groups.wait_all_assigned(0.2)
    finally:
        await asyncio.wait_for(service.stop(), 20)
    assert service.consumer_groups.groups[group].state == "stopped"


async def test_one_group_reads_every_topic_joins_in_the_background_and_reports_its_lag(
    servers: Servers, database: Database
) -> None:
    topic, other = (f"test.{uuid.uuid4().hex[:10]}" for _ in range(2))
    await ensure_topics(
        servers.kafka.bootstrap,
        partitions=3,
        topics=[topic, dead_letter_topic(topic), other, dead_letter_topic(other)],
    )
    service = a_service(database, servers.kafka.bootstrap, topic, other)
    name = service.settings.service_name
    group = consumer_group(name)
    await asyncio.wait_for(service.start(), 10)
    try:
        async with client(service) as http:
            assert (await http.get("/health/ready")).status_code == 200
            await service.consumer_groups.wait_all_assigned(60)

            consumers = await http.get("/health/consumers")
            assert consumers.status_code == 200, consumers.text
            body = consumers.json()
            assert body["status"] == "ok"
            assert body["broker"] == "ok"
            (state,) = body["groups"]
            assert state["state"] == "assigned"
            assert state["workers"] == 1
            assert state["group"] == group
            assert state["topics"] == sorted([topic, other])
            # one consumer holds all of both topics
            assert state["partitions"] == {topic: [0, 1, 2], other: [0, 1, 2]}
            assert state["assigned_after_seconds"] > 0

        rng = random.Random(5)
        for to in (topic, other):
            await publish_an_order(service, to, rng)
        await eventually(lambda: at_least_inbox_rows(database, 2), within=20, what="2 inbox rows")
        async with database.transaction() as session:
            read = (await session.execute(select(inbox.c.topic))).scalars().all()
        assert sorted(read) == sorted([topic, other])  # one message from each topic
        await service.consumer_groups.refresh_lag(service.consumers_of)
        assert service.consumer_groups.groups[group].lag == 0

        exposition = generate_latest(REGISTRY).decode()
        assert f'orderly_consumer_group_assigned{{group="{group}",service="{name}"}} 1.0' in (
            exposition
        )
        assert metric("orderly_consumer_group_partitions", service=name, group=group) == 6
        assert metric("orderly_consumer_group_lag", service=name, group=group) == 0
    finally:
        await service.stop()
    assert metric("orderly_consumer_group_state", service=name, group=group, state="stopped") == 1


async def test_groups_started_while_the_broker_is_down_join_once_it_is_up(
    database: Database, tmp_path: Path
) -> None:
    port = free_port()
    topic = "checkout.orders.v1"
    service = a_service(database, f"127.0.0.1:{port}", topic)
    await asyncio.wait_for(service.start(), 10)
    group = service.consumer_groups.groups[service.group]
    kafka = None
    try:
        await eventually(lambda: group.state == "failing", within=20, what="the group failing")

        kafka = await asyncio.to_thread(start_tansu, tmp_path, port=port)
        await ensure_topics(kafka.bootstrap, partitions=2, topics=[topic])
        await service.consumer_groups.wait_all_assigned(90)

        assert group.state == "assigned"
        assert group.error is None
        assert group.partitions == {TopicPartition(topic, 0), TopicPartition(topic, 1)}
    finally:
        await service.stop()
        if kafka is not None:
            kafka.stop()


async def at_least_inbox_rows(database: Database, n: int) -> bool:
    async with database.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(inbox)) or 0) >= n


async def test_an_idle_consumer_polls_less_and_the_next_record_makes_it_busy_again(
    servers: Servers, database: Database
) -> None:
    topic = f"test.{uuid.uuid4().hex[:10]}"
    await ensure_topics(
        servers.kafka.bootstrap, partitions=2, topics=[topic, dead_letter_topic(topic)]
    )
    service = a_service(
        database,
        servers.kafka.bootstrap,
        topic,
        kafka_fetch_max_wait_ms=50,
        consumer_batch_timeout_ms=20,
        kafka_fetch_max_wait_idle_ms=400,
        consumer_batch_timeout_idle_ms=300,
        consumer_idle_after_seconds=2.0,
    )
    busy, idle = Polling(50, 20), Polling(400, 300)
    await asyncio.wait_for(service.start(), 10)
    try:
        await service.consumer_groups.wait_all_assigned(60)
        async with client(service) as http:
            await eventually(  # the idle check runs every second
                lambda: service.idle_polling.is_idle, within=20, what="the consumer idle"
            )
            # the running consumer's own fetcher and batch loop poll at the idle values
            assert service.idle_polling.current() == idle
            assert (await http.get("/health/consumers")).json()["polling"] == "idle"

            await publish_an_order(service, topic, random.Random(9))
            await eventually(
                lambda: at_least_inbox_rows(database, 1), within=20, what="1 inbox row"
            )
            assert not service.idle_polling.is_idle
            assert service.idle_polling.current() == busy
            assert (await http.get("/health/consumers")).json()["polling"] == "busy"
    finally:
        await service.stop()
