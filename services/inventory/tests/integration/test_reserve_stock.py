"""ReserveStock: every line or none, one warehouse when one can serve the whole order, chosen
by the allocation policy, and the same answer when repeated."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

from orderly_inventory.domain.allocation import Policy
from orderly_inventory.domain.regions import Region, Regions
from orderly_schemas.checkout import Address

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory


async def test_a_line_is_served_by_the_first_warehouse_when_it_has_enough(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3, west=5)
    order = uuid4()

    await inventory.reserve(order, ("A", 2))

    assert await inventory.levels("A") == {"east": (3, 2), "west": (5, 0)}
    assert await inventory.reservations(order) == [("A", "east", 2, "reserved")]


async def test_a_line_is_split_across_warehouses_by_priority(inventory: Inventory) -> None:
    await inventory.stock("A", east=3, west=5)
    order = uuid4()

    await inventory.reserve(order, ("A", 7))

    assert await inventory.levels("A") == {"east": (3, 3), "west": (5, 4)}
    [(kind, body)] = await inventory.published()
    assert kind == "StockReserved"
    assert body["order_id"] == str(order)
    assert body["allocations"] == [
        {"sku": "A", "warehouse": "east", "quantity": 3},
        {"sku": "A", "warehouse": "west", "quantity": 4},
    ]


async def test_an_order_one_warehouse_can_serve_whole_leaves_in_one_parcel(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3, west=5)
    await inventory.stock("B", west=1)
    order = uuid4()

    await inventory.reserve(order, ("A", 2), ("B", 1))

    assert await inventory.reservations(order) == [
        ("A", "west", 2, "reserved"),
        ("B", "west", 1, "reserved"),
    ]
    assert await inventory.levels("A") == {"east": (3, 0), "west": (5, 2)}


async def test_most_stock_serves_from_the_fuller_warehouse(inventory: Inventory) -> None:
    inventory.policy = Policy.MOST_STOCK
    await inventory.stock("A", east=3, west=5)
    await inventory.stock("B", east=3, west=2)
    order = uuid4()

    await inventory.reserve(order, ("A", 1), ("B", 1))

    [(_, body)] = await inventory.published()
    assert body["allocations"] == [
        {"sku": "A", "warehouse": "west", "quantity": 1},
        {"sku": "B", "warehouse": "west", "quantity": 1},
    ]


def _address(country: str, postal_code: str) -> Address:
    return Address(
        name="Grace Hopper",
        line1="1 Harbour Road",
        city="Town",
        postal_code=postal_code,
        country=country,
    )


async def test_nearest_serves_from_the_region_of_the_ship_to_address(inventory: Inventory) -> None:
    inventory.policy = Policy.NEAREST
    inventory.regions = Regions(
        [
            Region("east", countries=frozenset({"PL"})),
            Region("west", countries=frozenset({"FR"}), postal_prefixes={"PL": frozenset({"7"})}),
        ]
    )
    await inventory.stock("A", east=10, west=10)
    to_paris, to_szczecin, to_warsaw, to_nowhere, unknown = (uuid4() for _ in range(5))

    await inventory.reserve(to_paris, ("A", 1), ship_to=_address("FR", "75001"))
    await inventory.reserve(to_szczecin, ("A", 1), ship_to=_address("PL", "70-001"))
    await inventory.reserve(to_warsaw, ("A", 1), ship_to=_address("PL", "00-001"))
    await inventory.reserve(to_nowhere, ("A", 1), ship_to=_address("US", "10001"))
    await inventory.reserve(unknown, ("A", 1))

    warehouse_of = {
        order: [w for _, w, _, _ in await inventory.reservations(order)]
        for order in (to_paris, to_szczecin, to_warsaw, to_nowhere, unknown)
    }
    assert warehouse_of == {
        to_paris: ["west"],
        to_szczecin: ["west"],
        to_warsaw: ["east"],
        to_nowhere: ["east"],  # no region serves it: by priority
        unknown: ["east"],  # no ship_to: by priority
    }
    assert await inventory.levels("A") == {"east": (10, 3), "west": (10, 2)}


async def test_nearest_still_prefers_one_distant_parcel_to_a_split(inventory: Inventory) -> None:
    inventory.policy = Policy.NEAREST
    inventory.regions = Regions([Region("west", countries=frozenset({"FR"}))])
    await inventory.stock("A", east=5, west=5)
    await inventory.stock("B", east=5)
    order = uuid4()

    await inventory.reserve(order, ("A", 1), ("B", 1), ship_to=_address("FR", "75001"))

    assert [w for _, w, _, _ in await inventory.reservations(order)] == ["east", "east"]


async def test_an_order_short_on_one_line_reserves_nothing_and_names_the_short_skus(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3, west=5)
    await inventory.stock("B", east=1, west=1)
    order = uuid4()

    await inventory.reserve(order, ("A", 2), ("B", 3), ("UNKNOWN-SKU", 1))

    assert await inventory.levels("A") == {"east": (3, 0), "west": (5, 0)}
    assert await inventory.levels("B") == {"east": (1, 0), "west": (1, 0)}
    assert await inventory.reservations(order) == []
    [(kind, body)] = await inventory.published()
    assert kind == "StockReservationFailed"
    assert body["short_skus"] == ["B", "UNKNOWN-SKU"]
    assert body["reason"] == "insufficient stock: B is short by 1, UNKNOWN-SKU is short by 1"


async def test_stock_already_reserved_by_others_is_not_available(inventory: Inventory) -> None:
    await inventory.stock("A", east=2)
    await inventory.reserve(uuid4(), ("A", 2))

    await inventory.reserve(uuid4(), ("A", 1))

    assert await inventory.kinds() == ["StockReserved", "StockReservationFailed"]
    assert await inventory.levels("A") == {"east": (2, 2)}


async def test_a_repeated_reserve_stock_republishes_the_same_allocations_and_changes_nothing(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3, west=5)
    order = uuid4()
    await inventory.reserve(order, ("A", 4))
    before = (await inventory.levels("A"), await inventory.reservations(order))

    await inventory.reserve(order, ("A", 4))
    await inventory.reserve(order, ("A", 4))

    assert (await inventory.levels("A"), await inventory.reservations(order)) == before
    answers = await inventory.published()
    assert [kind for kind, _ in answers] == ["StockReserved"] * 3
    assert len({str(body["allocations"]) for _, body in answers}) == 1


async def test_a_repeated_reserve_stock_after_a_failure_fails_again_even_after_a_restock(
    inventory: Inventory,
) -> None:
    order = uuid4()
    await inventory.reserve(order, ("LATER", 1))
    await inventory.stock("LATER", east=10)

    await inventory.reserve(order, ("LATER", 1))

    assert await inventory.kinds() == ["StockReservationFailed"] * 2
    assert await inventory.levels("LATER") == {"east": (10, 0)}


async def test_lines_of_the_same_sku_are_reserved_together(inventory: Inventory) -> None:
    await inventory.stock("A", east=3)

    await inventory.reserve(uuid4(), ("A", 2), ("A", 2))

    [(kind, body)] = await inventory.published()
    assert (kind, body["short_skus"]) == ("StockReservationFailed", ["A"])
