"""ShipOrder and the delivery scan: stock leaves once, with one shipment, delivered once.

A carrier's refusal is final: ShipmentFailed, the stock stays reserved for the release.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from orderly_inventory import handlers
from orderly_inventory.adapters import orm
from orderly_inventory.adapters.carrier import Consignment, SimulatedCarrier
from orderly_schemas.checkout import Address

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from conftest import Inventory

REFUSED_ADDRESS = Address(
    name="Ada Lovelace", line1="1 Nowhere Lane", city="Void", postal_code="00000", country="GB"
)


async def test_shipping_takes_the_reserved_units_out_and_books_one_shipment(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3, west=5)
    await inventory.stock("B", west=2)
    order = uuid4()
    await inventory.reserve(order, ("A", 6), ("B", 1))

    await inventory.ship(order)

    assert await inventory.levels("A") == {"east": (0, 0), "west": (2, 0)}
    assert await inventory.levels("B") == {"west": (1, 0)}
    assert {status for *_, status in await inventory.reservations(order)} == {"shipped"}
    [_, (kind, body)] = await inventory.published()
    assert kind == "OrderShipped"
    assert body["carrier"] == "SimPost"
    assert re.fullmatch(r"SP[0-9A-F]{12}", body["tracking_number"])
    async with inventory.service.database.sessions() as s:
        rows = (await s.execute(select(orm.shipments))).mappings().all()
    assert [(r["shipment_id"], r["status"]) for r in rows] == [
        (UUID(body["shipment_id"]), "shipped")
    ]


async def test_a_repeated_ship_order_republishes_the_same_shipment(inventory: Inventory) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.ship(order)

    await inventory.ship(order)

    assert await inventory.levels("A") == {"east": (1, 0)}
    shipped = [body for kind, body in await inventory.published() if kind == "OrderShipped"]
    assert len(shipped) == 2
    assert shipped[0] == shipped[1]


async def test_shipping_without_reserved_stock_fails_with_the_reason(inventory: Inventory) -> None:
    await inventory.stock("A", east=3)
    released = uuid4()
    await inventory.reserve(released, ("A", 1))
    await inventory.release(released)

    await inventory.ship(released)
    await inventory.ship(uuid4())

    failures = [body for kind, body in await inventory.published() if kind == "ShipmentFailed"]
    assert [f["reason"] for f in failures] == ["no reserved stock for order"] * 2
    assert await inventory.levels("A") == {"east": (3, 0)}


async def test_a_due_shipment_is_delivered_once(inventory: Inventory) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 1))
    await inventory.ship(order)
    messaging = inventory.service.messaging

    delivered = [await handlers.deliver_due_shipments(messaging) for _ in range(2)]

    assert delivered == [1, 0]
    [shipped, arrived] = [
        b for k, b in await inventory.published() if k.startswith(("Order", "Ship"))
    ]
    assert arrived["shipment_id"] == shipped["shipment_id"]
    assert arrived["tracking_number"] == shipped["tracking_number"]
    async with inventory.service.database.sessions() as s:
        row = (await s.execute(select(orm.shipments))).mappings().one()
    assert row["status"] == "delivered"
    assert row["delivered_at"] is not None


async def test_a_shipment_is_not_delivered_before_its_time(inventory: Inventory) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 1))
    await inventory.ship(order, delay=timedelta(hours=1))

    assert await handlers.deliver_due_shipments(inventory.service.messaging) == 0

    assert "ShipmentDelivered" not in await inventory.kinds()


REFUSAL = "SimPost does not deliver to postal code 00000"


async def test_a_refused_booking_fails_the_shipment_and_keeps_the_stock_reserved(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))

    await inventory.ship(order, ship_to=REFUSED_ADDRESS)

    assert await inventory.levels("A") == {"east": (3, 2)}
    assert await inventory.reservations(order) == [("A", "east", 2, "reserved")]
    [_, (kind, body)] = await inventory.published()
    assert (kind, body["reason"]) == ("ShipmentFailed", REFUSAL)
    async with inventory.service.database.sessions() as s:
        assert (await s.execute(select(orm.shipments))).all() == []
        [failure] = (await s.execute(select(orm.shipment_failures))).mappings().all()
    assert (failure["order_id"], failure["carrier"]) == (order, "SimPost")


async def test_the_release_after_a_refusal_gives_the_stock_back(inventory: Inventory) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.ship(order, ship_to=REFUSED_ADDRESS)

    await inventory.release(order)

    assert await inventory.levels("A") == {"east": (3, 0)}
    assert await inventory.reservations(order) == [("A", "east", 2, "released")]


async def test_a_ship_order_after_a_refusal_answers_the_same_and_never_ships(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.ship(order, ship_to=REFUSED_ADDRESS)

    await inventory.ship(order, ship_to=REFUSED_ADDRESS)
    await inventory.ship(order)  # even to an address the carrier serves
    await inventory.release(order)
    await inventory.ship(order)

    assert await inventory.levels("A") == {"east": (3, 0)}
    failures = [body for kind, body in await inventory.published() if kind == "ShipmentFailed"]
    assert [f["reason"] for f in failures] == [REFUSAL] * 4
    assert "OrderShipped" not in await inventory.kinds()


class UnreachableCarrier:
    """A carrier whose booking service is down: every call raises a transient error."""

    name = "Flaky"

    async def book(self, *, order_id: UUID, ship_to: Address, parcels: int) -> Consignment:
        raise ConnectionError("carrier API unreachable")


async def test_a_transient_carrier_error_changes_nothing_so_the_command_can_be_retried(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    inventory.carrier = UnreachableCarrier()

    with pytest.raises(ConnectionError):
        await inventory.ship(order)

    assert await inventory.levels("A") == {"east": (3, 2)}
    assert await inventory.reservations(order) == [("A", "east", 2, "reserved")]
    assert await inventory.kinds() == ["StockReserved"]
    inventory.carrier = SimulatedCarrier()
    await inventory.ship(order)
    assert await inventory.kinds() == ["StockReserved", "OrderShipped"]
