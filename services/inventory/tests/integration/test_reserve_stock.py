"""ReserveStock: every line or none, by warehouse priority, and the same answer when repeated."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from conftest import Inventory


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

    await inventory.reserve(order, ("A", 5))

    assert await inventory.levels("A") == {"east": (3, 3), "west": (5, 2)}
    [(kind, body)] = await inventory.published()
    assert kind == "StockReserved"
    assert body["order_id"] == str(order)
    assert body["allocations"] == [
        {"sku": "A", "warehouse": "east", "quantity": 3},
        {"sku": "A", "warehouse": "west", "quantity": 2},
    ]


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
