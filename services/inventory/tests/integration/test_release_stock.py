"""ReleaseStock: gives back what an order holds, never what has shipped, and always answers."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from conftest import Inventory


async def test_release_gives_the_reserved_units_back(inventory: Inventory) -> None:
    await inventory.stock("A", east=3, west=5)
    order = uuid4()
    await inventory.reserve(order, ("A", 4))

    await inventory.release(order)

    assert await inventory.levels("A") == {"east": (3, 0), "west": (5, 0)}
    assert await inventory.reservations(order) == [
        ("A", "east", 3, "released"),
        ("A", "west", 1, "released"),
    ]
    assert await inventory.kinds() == ["StockReserved", "StockReleased"]


async def test_a_second_release_changes_nothing_and_still_answers(inventory: Inventory) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.release(order)

    await inventory.release(order)

    assert await inventory.levels("A") == {"east": (3, 0)}
    assert await inventory.kinds() == ["StockReserved", "StockReleased", "StockReleased"]


async def test_releasing_an_order_that_never_reserved_is_a_no_op_that_answers(
    inventory: Inventory,
) -> None:
    order = uuid4()

    await inventory.release(order)

    [(kind, body)] = await inventory.published()
    assert (kind, body["order_id"], body["reason"]) == ("StockReleased", str(order), "cancelled")


async def test_shipped_stock_is_never_released(inventory: Inventory) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.ship(order)

    await inventory.release(order)

    assert await inventory.levels("A") == {"east": (1, 0)}
    assert await inventory.reservations(order) == [("A", "east", 2, "shipped")]
