"""ShipReplacement through the real consumer: the service started in-process on a private
Tansu, on the database the ``inventory`` driver arranges and reads.

What the order service does for a claim's reshipment or an exchange's new goods: send
ShipReplacement on inventory.commands.v1 and wait for ReplacementShipped (or
ReplacementRefused) on inventory.events.v1. Kafka may deliver the command again (the same
message id) and the order service may re-send it (a new message, the same replacement id):
either way the stock is taken once, and a re-send is answered again, the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest

from orderly_dev.servers import Kafka
from orderly_inventory.bootstrap import build
from orderly_inventory.settings import InventorySettings
from orderly_kit.service import Service
from orderly_schemas.base import StockLine
from orderly_schemas.inventory import ShipReplacement
from orderly_schemas.personal import SealedPersonalData

if TYPE_CHECKING:  # fixtures' types; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory, Saga


@pytest.fixture
async def started(inventory: Inventory, kafka: Kafka) -> AsyncIterator[Service]:
    """The service on ``inventory``'s database, started: its consumers, relay and jobs."""
    service = build(
        InventorySettings(
            database_url=inventory.service.settings.database_url,
            kafka_bootstrap_servers=kafka.bootstrap,
            create_topics=True,
            topic_partitions=2,
            outbox_poll_interval_ms=50,
            log_json=False,
        )
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


def ship_replacement(personal: SealedPersonalData, *lines: tuple[str, int]) -> ShipReplacement:
    return ShipReplacement(
        order_id=uuid4(),
        replacement_id=uuid4(),
        lines=[StockLine(sku=sku, quantity=n) for sku, n in lines],
        reason="exchange RMA-0000007: the mug in blue",
        personal=personal,
    )


async def test_a_replacement_ships_once_however_often_the_command_comes(
    inventory: Inventory, started: Service, saga: Saga, sealed: SealedPersonalData
) -> None:
    await inventory.stock("MUG", east=1, west=4)
    command = ship_replacement(sealed, ("MUG", 2))

    shipped, first = await saga.answers_to_three_sends(command, "ReplacementShipped")

    # The redelivery was skipped by the inbox; the re-send answered again; stock moved once.
    assert len(shipped) == 2
    assert shipped[0].body == shipped[1].body
    [parcel] = shipped[0].body["parcels"]
    assert (parcel["warehouse"], parcel["lines"]) == ("west", [{"sku": "MUG", "quantity": 2}])
    assert shipped[0].body["replacement_id"] == str(command.replacement_id)
    assert shipped[0].headers["ce_causationid"] == first.id
    assert await inventory.levels("MUG") == {"east": (1, 0), "west": (2, 0)}
    assert [m[2] for m in await inventory.movements(str(command.replacement_id))] == [
        "reservation",
        "shipment",
    ]


async def test_a_replacement_short_of_stock_is_refused_to_each_command(
    inventory: Inventory, started: Service, saga: Saga, sealed: SealedPersonalData
) -> None:
    await inventory.stock("MUG", west=1)
    command = ship_replacement(sealed, ("MUG", 2))

    refused, first = await saga.answers_to_three_sends(command, "ReplacementRefused")

    assert len(refused) == 2
    assert refused[0].body == refused[1].body
    assert (refused[0].body["reason"], refused[0].body["short_skus"]) == (
        "insufficient stock: MUG is short by 1",
        ["MUG"],
    )
    assert refused[0].headers["ce_causationid"] == first.id
    assert await inventory.levels("MUG") == {"west": (1, 0)}
