"""RestockReturn and BookReturnParcel through the real consumer: the service started
in-process on a private Tansu.

What the return saga will do: send BookReturnParcel, then RestockReturn, on
inventory.commands.v1 and wait for ReturnParcelBooked (or ReturnParcelRefused), then
ReturnRestocked, on inventory.events.v1. Kafka may deliver a command again (same message
id) and the saga may re-send it (a new message, same return id): either way stock moves
once, and a re-send is answered again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest
from sqlalchemy import Row, insert, select

from orderly_dev.eventually import eventually
from orderly_dev.servers import Kafka
from orderly_inventory.adapters import orm
from orderly_inventory.adapters.stock import StockRepository
from orderly_inventory.bootstrap import build
from orderly_inventory.domain.ledger import Movement, MovementKind
from orderly_inventory.domain.returns import NEVER_SHIPPED
from orderly_inventory.settings import InventorySettings
from orderly_inventory.use_cases import ledger
from orderly_kit.service import Service
from orderly_schemas import topics
from orderly_schemas.base import StockLine
from orderly_schemas.inventory import BookReturnParcel, RestockReturn, ReturnLine

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Saga


@pytest.fixture
async def running(fresh_database: str, kafka: Kafka) -> AsyncIterator[Service]:
    """The service started, west holding 4 mugs; after the test, levels agree with the ledger."""
    service = build(
        InventorySettings(
            database_url=fresh_database,
            kafka_bootstrap_servers=kafka.bootstrap,
            migrate_on_start=True,
            create_topics=True,
            topic_partitions=2,
            outbox_poll_interval_ms=50,
            log_json=False,
        )
    )
    await service.start()
    try:
        async with service.database.transaction() as s:
            await s.execute(insert(orm.warehouses).values(code="west", name="West", priority=1))
        async with service.messaging.unit_of_work() as uow:
            opening = Movement(
                sku="MUG",
                warehouse="west",
                kind=MovementKind.OPENING,
                quantity=4,
                on_hand=4,
                reason="opening stock",
                actor="test",
            )
            await ledger.move(uow, [opening], at=datetime.now(UTC))
        yield service
        async with service.database.sessions() as s:
            assert await StockRepository(s).discrepancies() == []
    finally:
        await service.stop()


async def movements(service: Service, reference: str) -> list[tuple[str, str, int, int]]:
    c = orm.stock_movements.c
    query = (
        select(c.sku, c.kind, c.quantity, c.on_hand_delta)
        .where(c.reference == reference)
        .order_by(c.id)
    )
    async with service.database.sessions() as s:
        return [tuple(r) for r in await s.execute(query)]


async def on_hand(service: Service, sku: str, warehouse: str) -> int:
    c = orm.stock_levels.c
    query = select(c.on_hand).where(c.sku == sku, c.warehouse == warehouse)
    async with service.database.sessions() as s:
        return int((await s.execute(query)).scalar_one())


async def test_a_return_is_restocked_once_however_often_the_command_comes(
    running: Service, saga: Saga
) -> None:
    order, return_id = uuid4(), uuid4()
    command = RestockReturn(
        order_id=order,
        return_id=return_id,
        warehouse="west",
        lines=[
            ReturnLine(sku="MUG", quantity=2, condition="resellable"),
            ReturnLine(sku="MUG", quantity=1, condition="damaged"),
        ],
    )

    restocked, first = await saga.answers_to_three_sends(command, "ReturnRestocked")

    # The redelivery was skipped by the inbox; the re-send answered again; stock moved once.
    assert len(restocked) == 2
    assert await on_hand(running, "MUG", "west") == 6
    assert await movements(running, str(return_id)) == [
        ("MUG", "write_off", 1, 0),
        ("MUG", "return", 2, 2),
    ]
    assert restocked[0].body == restocked[1].body
    assert restocked[0].body["lines"] == [
        {"sku": "MUG", "quantity": 2, "condition": "resellable"},
        {"sku": "MUG", "quantity": 1, "condition": "damaged"},
    ]
    assert restocked[0].headers["ce_causationid"] == first.id


async def test_a_return_into_an_unknown_warehouse_is_dead_lettered_with_the_reason(
    running: Service, saga: Saga
) -> None:
    order = uuid4()
    command = RestockReturn(
        order_id=order,
        return_id=uuid4(),
        warehouse="nowhere",
        lines=[ReturnLine(sku="MUG", quantity=1, condition="resellable")],
    )
    message = saga.envelope_of(command)
    await saga.send(command, message)

    c = orm.inbox.c
    query = select(c.outcome, c.attempts, c.error).where(c.message_id == message.id)

    async def inbox_row() -> Row[Any] | None:
        async with running.database.sessions() as s:
            return (await s.execute(query)).first()

    row = await eventually(inbox_row, within=30, what="the command handled or dead-lettered")

    assert (row.outcome, row.attempts) == ("dead_lettered", 1)  # no retry can cure it
    assert "warehouse: no warehouse 'nowhere' (known: west)" in row.error
    o = orm.outbox.c
    async with running.database.sessions() as s:
        restocks = select(o.topic).where(o.message_type == "RestockReturn")
        dead = (await s.execute(restocks)).tuples().all()
    assert dead == [(topics.dead_letter_topic(topics.INVENTORY_COMMANDS),)]
    assert await on_hand(running, "MUG", "west") == 4


async def test_a_return_parcel_of_an_order_never_shipped_is_refused_to_each_command(
    running: Service, saga: Saga
) -> None:
    command = BookReturnParcel(
        order_id=uuid4(), return_id=uuid4(), lines=[StockLine(sku="MUG", quantity=1)]
    )

    refused, first = await saga.answers_to_three_sends(command, "ReturnParcelRefused")

    assert len(refused) == 2
    assert refused[0].body == refused[1].body
    assert refused[0].body["reason"] == NEVER_SHIPPED
    assert refused[0].body["return_id"] == str(command.return_id)
    assert refused[0].headers["ce_causationid"] == first.id
