"""ShipOrder: the reserved stock leaves once, as one parcel per warehouse, each booked apart.

A carrier's refusal of any parcel is final for the whole order: ShipmentFailed,
nothing leaves, the stock stays reserved for the release.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from orderly_inventory.adapters import orm
from orderly_inventory.adapters.carrier import Consignment, SimulatedCarrier
from orderly_inventory.domain.shipments import CarrierRefusedError, ParcelLine
from orderly_schemas.checkout import Address

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory

REFUSED_ADDRESS = Address(
    name="Ada Lovelace", line1="1 Nowhere Lane", city="Void", postal_code="00000", country="GB"
)
TRACKING_NUMBER = re.compile(r"SP[0-9A-F]{12}")


async def test_an_order_split_across_east_and_west_ships_as_two_parcels(
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
    east, west = body["parcels"]
    assert (east["warehouse"], west["warehouse"]) == ("east", "west")
    assert east["lines"] == [{"sku": "A", "quantity": 3}]
    assert west["lines"] == [{"sku": "A", "quantity": 3}, {"sku": "B", "quantity": 1}]
    assert {east["carrier"], west["carrier"]} == {"SimPost"}
    assert TRACKING_NUMBER.fullmatch(east["tracking_number"])
    assert TRACKING_NUMBER.fullmatch(west["tracking_number"])
    assert east["tracking_number"] != west["tracking_number"]
    # The event's own fields name the first parcel, for consumers that know only one.
    assert (body["shipment_id"], body["tracking_number"]) == (
        east["shipment_id"],
        east["tracking_number"],
    )
    rows = await inventory.shipments(order)
    assert [
        (r["warehouse"], str(r["shipment_id"]), r["tracking_number"], r["status"]) for r in rows
    ] == [
        ("east", east["shipment_id"], east["tracking_number"], "shipped"),
        ("west", west["shipment_id"], west["tracking_number"], "shipped"),
    ]
    assert all(r["expected_delivery_at"] > r["shipped_at"] for r in rows)
    assert await inventory.shipped(order) == [
        ("A", "east", 3, f"shipped with SimPost as {east['tracking_number']}"),
        ("A", "west", 3, f"shipped with SimPost as {west['tracking_number']}"),
        ("B", "west", 1, f"shipped with SimPost as {west['tracking_number']}"),
    ]


async def test_an_order_from_one_warehouse_ships_as_one_parcel(inventory: Inventory) -> None:
    await inventory.stock("A", east=3)
    await inventory.stock("B", east=3)
    order = uuid4()
    await inventory.reserve(order, ("B", 1), ("A", 2))

    await inventory.ship(order)

    [(_, body)] = [(k, b) for k, b in await inventory.published() if k == "OrderShipped"]
    [parcel] = body["parcels"]
    assert parcel["warehouse"] == "east"
    assert parcel["lines"] == [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}]
    assert parcel["tracking_number"] == body["tracking_number"]
    assert [r["warehouse"] for r in await inventory.shipments(order)] == ["east"]


async def test_a_repeated_ship_order_republishes_the_same_parcels(inventory: Inventory) -> None:
    await inventory.stock("A", east=1, west=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 4))
    await inventory.ship(order)

    await inventory.ship(order)

    assert await inventory.levels("A") == {"east": (0, 0), "west": (0, 0)}
    shipped = [body for kind, body in await inventory.published() if kind == "OrderShipped"]
    assert len(shipped) == 2
    assert shipped[0] == shipped[1]
    assert len(shipped[0]["parcels"]) == 2
    assert len(await inventory.shipments(order)) == 2


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


class RefusesWest(SimulatedCarrier):
    """Books parcels from east; refuses those from west (too heavy, say)."""

    async def book(
        self, *, order_id: UUID, warehouse: str, ship_to: Address, lines: Sequence[ParcelLine]
    ) -> Consignment:
        if warehouse == "west":
            raise CarrierRefusedError(f"{self.name} cannot collect from warehouse west")
        return await super().book(
            order_id=order_id, warehouse=warehouse, ship_to=ship_to, lines=lines
        )


async def test_a_refusal_of_one_parcel_refuses_the_whole_order_before_any_stock_moves(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=1, west=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 4))
    inventory.carrier = RefusesWest(inventory.service.database)

    await inventory.ship(order)
    await inventory.ship(order)

    assert await inventory.levels("A") == {"east": (1, 1), "west": (3, 3)}
    assert await inventory.shipments(order) == []
    assert await inventory.shipped(order) == []
    failures = [b["reason"] for k, b in await inventory.published() if k == "ShipmentFailed"]
    assert failures == ["SimPost cannot collect from warehouse west"] * 2
    # East's booking was cancelled: the carrier will not report a parcel that never left.
    async with inventory.service.database.sessions() as s:
        assert (await s.execute(select(orm.sim_carrier_updates))).all() == []


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


class UnreachableFor(SimulatedCarrier):
    """The simulated carrier, except that bookings from ``warehouse`` fail as if it were down."""

    warehouse = "east"

    async def book(
        self, *, order_id: UUID, warehouse: str, ship_to: Address, lines: Sequence[ParcelLine]
    ) -> Consignment:
        if warehouse == self.warehouse:
            raise ConnectionError("carrier API unreachable")
        return await super().book(
            order_id=order_id, warehouse=warehouse, ship_to=ship_to, lines=lines
        )


async def test_a_transient_carrier_error_changes_nothing_so_the_command_can_be_retried(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    inventory.carrier = UnreachableFor(inventory.service.database)

    with pytest.raises(ConnectionError):
        await inventory.ship(order)

    assert await inventory.levels("A") == {"east": (3, 2)}
    assert await inventory.reservations(order) == [("A", "east", 2, "reserved")]
    assert await inventory.kinds() == ["StockReserved"]
    inventory.carrier = SimulatedCarrier(inventory.service.database, clock=inventory.clock)
    await inventory.ship(order)
    assert await inventory.kinds() == ["StockReserved", "OrderShipped"]


async def test_a_retry_after_a_transient_error_on_the_second_parcel_books_the_same_numbers(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=1, west=1)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    flaky = UnreachableFor(inventory.service.database)
    flaky.warehouse = "west"  # east is booked first, then west fails
    inventory.carrier = flaky
    with pytest.raises(ConnectionError):
        await inventory.ship(order)
    async with inventory.service.database.sessions() as s:
        booked_east = set(
            (await s.execute(select(orm.sim_carrier_updates.c.tracking_number))).scalars()
        )

    inventory.carrier = SimulatedCarrier(inventory.service.database, clock=inventory.clock)
    await inventory.ship(order)

    [east, west] = await inventory.shipments(order)
    assert booked_east == {east["tracking_number"]}  # the same parcel, not a second booking
    assert west["tracking_number"] != east["tracking_number"]
    async with inventory.service.database.sessions() as s:
        scheduled = (
            await s.execute(
                select(orm.sim_carrier_updates.c.tracking_number, orm.sim_carrier_updates.c.status)
            )
        ).all()
    # Each parcel's three updates, once each.
    assert sorted(scheduled) == sorted(
        (number, status)
        for number in (east["tracking_number"], west["tracking_number"])
        for status in ("in_transit", "out_for_delivery", "delivered")
    )
    assert await inventory.levels("A") == {"east": (0, 0), "west": (0, 0)}
