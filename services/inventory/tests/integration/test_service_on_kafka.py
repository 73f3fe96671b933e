"""The service started in-process: commands in over Kafka, events out through the outbox.

It is served by uvicorn on a free port, as ``serve`` runs it, so that the simulated
carrier's tracking updates reach the service's own webhook over real HTTP.

The broker is a private Tansu started for this module, not the session's: a
started service joins the inventory consumer groups and publishes on the real
topic names, which would interfere with the ``stack`` fixture sharing the
session broker. PostgreSQL is the session's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from sqlalchemy import insert

from orderly_dev.eventually import eventually
from orderly_dev.servers import Kafka, free_port
from orderly_dev.watch import OrderWatcher
from orderly_inventory.adapters import orm
from orderly_inventory.bootstrap import build
from orderly_inventory.settings import InventorySettings
from orderly_kit.service import Service
from orderly_schemas import topics
from orderly_schemas.base import Message, StockLine
from orderly_schemas.checkout import Address
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.inventory import ReleaseStock, ReserveStock, ShipOrder

ADDRESS = Address(name="A", line1="1 Main St", city="Town", postal_code="1000", country="NL")


def settings(database_url: str, kafka: Kafka, **overrides: Any) -> InventorySettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka.bootstrap,
        "migrate_on_start": True,
        "create_topics": True,
        "topic_partitions": 2,
        "http_port": free_port(),
        "delivery_delay_seconds": 0,
        "delivery_poll_seconds": 0.05,
        "outbox_poll_interval_ms": 50,
        "log_json": False,
    }
    return InventorySettings(**(values | overrides))


@pytest.fixture
async def running(
    fresh_database: str, kafka: Kafka, request: pytest.FixtureRequest
) -> AsyncIterator[Service]:
    """The service serving; a test may override settings with an indirect parameter."""
    service = build(settings(fresh_database, kafka, **getattr(request, "param", {})))
    server = uvicorn.Server(
        uvicorn.Config(
            service.http,
            host="127.0.0.1",
            port=service.settings.http_port,
            lifespan="on",  # starts the service: migrations, consumers, relay, jobs
            log_config=None,
            access_log=False,
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the service stopped while starting"
        await asyncio.sleep(0.02)
    async with service.database.transaction() as s:
        await s.execute(
            insert(orm.warehouses).values(code="east", name="East", region="east", priority=1)
        )
        await s.execute(
            insert(orm.stock_levels).values(sku="DEMO-0001", warehouse="east", on_hand=5)
        )
    try:
        yield service
    finally:
        server.should_exit = True
        await serving


async def send(producer: AIOKafkaProducer, command: Message, order_id: UUID) -> Envelope:
    envelope = Envelope(
        type=command.message_type(),
        source="/test/saga",
        subject=str(order_id),
        correlation_id=str(order_id),
    )
    await producer.send_and_wait(
        command.topic,
        command.model_dump_json().encode(),
        key=str(order_id).encode(),
        headers=[(k, v.encode()) for k, v in envelope.to_headers().items()],
    )
    return envelope


async def test_reserve_then_ship_over_kafka_ends_in_a_delivery(
    running: Service, kafka: Kafka
) -> None:
    order = uuid4()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        async with OrderWatcher(kafka.bootstrap, topic=topics.INVENTORY_EVENTS) as watcher:
            reserve = await send(
                producer,
                ReserveStock(order_id=order, lines=[StockLine(sku="DEMO-0001", quantity=2)]),
                order,
            )
            reserved = await eventually(
                lambda: watcher.first(order, "StockReserved"), within=30, what="StockReserved"
            )

            await send(producer, ShipOrder(order_id=order, ship_to=ADDRESS), order)
            shipped = await eventually(
                lambda: watcher.first(order, "OrderShipped"), within=15, what="OrderShipped"
            )
            delivered = await eventually(
                lambda: watcher.first(order, "ShipmentDelivered"),
                within=15,
                what="ShipmentDelivered",
            )
            tracked = watcher.types(order)
    finally:
        await producer.stop()

    assert reserved.body["allocations"] == [
        {"sku": "DEMO-0001", "warehouse": "east", "quantity": 2}
    ]
    assert reserved.headers["ce_source"] == "/orderly/inventory"
    assert reserved.headers["ce_causationid"] == reserve.id
    assert reserved.headers["ce_correlationid"] == str(order)
    assert shipped.body["carrier"] == "SimPost"
    assert delivered.body["tracking_number"] == shipped.body["tracking_number"]
    # Delivered by the carrier's webhook, each step announced first.
    assert tracked == [
        "StockReserved",
        "OrderShipped",
        "ShipmentTracked",
        "ShipmentTracked",
        "ShipmentTracked",
        "ShipmentDelivered",
    ]
    assert {reserved.partition, shipped.partition, delivered.partition} == {reserved.partition}


@pytest.mark.parametrize(
    "running",
    [{"reservation_ttl_seconds": 5, "reservation_expiry_poll_seconds": 0.1}],
    indirect=True,
)
async def test_a_held_reservation_expires_and_a_refused_one_waits_for_its_release(
    running: Service, kafka: Kafka
) -> None:
    held, refused = uuid4(), uuid4()
    nowhere = ADDRESS.model_copy(update={"postal_code": "00000"})
    line = [StockLine(sku="DEMO-0001", quantity=2)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        async with OrderWatcher(kafka.bootstrap, topic=topics.INVENTORY_EVENTS) as watcher:
            await send(producer, ReserveStock(order_id=held, lines=line), held)
            # Back to back, so the carrier is asked well within the time-to-live.
            await send(producer, ReserveStock(order_id=refused, lines=line), refused)
            await send(producer, ShipOrder(order_id=refused, ship_to=nowhere), refused)
            not_booked = await eventually(
                lambda: watcher.first(refused, "ShipmentFailed"), within=30, what="ShipmentFailed"
            )
            await send(producer, ReleaseStock(order_id=refused, reason="cancelled"), refused)
            await eventually(
                lambda: watcher.first(refused, "StockReleased"), within=15, what="StockReleased"
            )

            expired = await eventually(
                lambda: watcher.first(held, "StockReservationExpired"),
                within=15,
                what="StockReservationExpired",
            )
            await send(producer, ShipOrder(order_id=held, ship_to=ADDRESS), held)
            not_shipped = await eventually(
                lambda: watcher.first(held, "ShipmentFailed"), within=15, what="ShipmentFailed"
            )
    finally:
        await producer.stop()

    assert not_booked.body["reason"] == "SimPost does not deliver to postal code 00000"
    assert expired.body["allocations"] == [{"sku": "DEMO-0001", "warehouse": "east", "quantity": 2}]
    assert not_shipped.body["reason"] == "no reserved stock for order"
    assert watcher.types(held) == ["StockReserved", "StockReservationExpired", "ShipmentFailed"]
    assert watcher.types(refused) == ["StockReserved", "ShipmentFailed", "StockReleased"]


@pytest.mark.parametrize(
    "running", [{"pick_delay_seconds": 1, "pick_poll_seconds": 0.05}], indirect=True
)
async def test_with_picking_a_release_sent_right_after_ship_order_wins(
    running: Service, kafka: Kafka
) -> None:
    kept, cancelled = uuid4(), uuid4()
    line = [StockLine(sku="DEMO-0001", quantity=2)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        async with OrderWatcher(kafka.bootstrap, topic=topics.INVENTORY_EVENTS) as watcher:
            for order in (kept, cancelled):
                await send(producer, ReserveStock(order_id=order, lines=line), order)
                reserved = partial(watcher.first, order, "StockReserved")
                await eventually(reserved, within=30, what="StockReserved")
            started = time.monotonic()
            ship = await send(producer, ShipOrder(order_id=kept, ship_to=ADDRESS), kept)
            # The saga's cancel after payment: ShipOrder is already on its way.
            await send(producer, ShipOrder(order_id=cancelled, ship_to=ADDRESS), cancelled)
            await send(producer, ReleaseStock(order_id=cancelled, reason="cancelled"), cancelled)
            await eventually(
                lambda: watcher.first(cancelled, "StockReleased"), within=15, what="StockReleased"
            )
            shipped = await eventually(
                lambda: watcher.first(kept, "OrderShipped"), within=15, what="OrderShipped"
            )
            picked_for = time.monotonic() - started
            await send(producer, ShipOrder(order_id=cancelled, ship_to=ADDRESS), cancelled)
            not_shipped = await eventually(
                lambda: watcher.first(cancelled, "ShipmentFailed"), within=15, what="ShipmentFailed"
            )
    finally:
        await producer.stop()

    assert picked_for >= 1
    assert shipped.headers["ce_causationid"] == ship.id
    assert not_shipped.body["reason"] == "order was released while being picked"
    assert watcher.types(kept)[:2] == ["StockReserved", "OrderShipped"]
    assert watcher.types(cancelled) == ["StockReserved", "StockReleased", "ShipmentFailed"]


@pytest.mark.parametrize(
    "running",
    [
        {
            "allocation_policy": "nearest",
            "regions": {"east": {"countries": ["DE"]}, "west": {"countries": ["NL"]}},
        }
    ],
    indirect=True,
)
async def test_the_configured_policy_serves_an_order_from_the_region_of_its_address(
    running: Service, kafka: Kafka
) -> None:
    async with running.database.transaction() as s:
        await s.execute(
            insert(orm.warehouses).values(code="west", name="West", region="west", priority=2)
        )
        await s.execute(
            insert(orm.stock_levels).values(sku="DEMO-0001", warehouse="west", on_hand=5)
        )
    to_amsterdam, unaddressed = uuid4(), uuid4()
    line = [StockLine(sku="DEMO-0001", quantity=2)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        async with OrderWatcher(kafka.bootstrap, topic=topics.INVENTORY_EVENTS) as watcher:
            await send(
                producer,
                ReserveStock(order_id=to_amsterdam, lines=line, ship_to=ADDRESS),
                to_amsterdam,
            )
            await send(producer, ReserveStock(order_id=unaddressed, lines=line), unaddressed)
            near = await eventually(
                lambda: watcher.first(to_amsterdam, "StockReserved"),
                within=30,
                what="StockReserved",
            )
            by_priority = await eventually(
                lambda: watcher.first(unaddressed, "StockReserved"), within=15, what="StockReserved"
            )
    finally:
        await producer.stop()

    assert near.body["allocations"] == [{"sku": "DEMO-0001", "warehouse": "west", "quantity": 2}]
    assert by_priority.body["allocations"] == [
        {"sku": "DEMO-0001", "warehouse": "east", "quantity": 2}
    ]
