"""ReleaseStock: gives back what an order holds, never what has shipped, and always answers.

A release that comes before any ReserveStock leaves a tombstone: a late ReserveStock fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory


async def test_release_gives_the_reserved_units_back(inventory: Inventory) -> None:
    await inventory.stock("A", east=3, west=5)
    order = uuid4()
    await inventory.reserve(order, ("A", 6))

    await inventory.release(order)

    assert await inventory.levels("A") == {"east": (3, 0), "west": (5, 0)}
    assert await inventory.reservations(order) == [
        ("A", "east", 3, "released"),
        ("A", "west", 3, "released"),
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


async def test_a_reserve_stock_after_its_release_fails_and_reserves_nothing(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.release(order)

    await inventory.reserve(order, ("A", 2))
    await inventory.reserve(order, ("A", 2))

    assert await inventory.levels("A") == {"east": (3, 0)}
    assert await inventory.reservations(order) == []
    published = await inventory.published()
    assert [kind for kind, _ in published] == [
        "StockReleased",
        "StockReservationFailed",
        "StockReservationFailed",
    ]
    for _, body in published[1:]:
        assert body["reason"] == "order was released before stock was reserved"
        assert body["short_skus"] == []


async def test_releasing_twice_before_any_reserve_answers_twice(inventory: Inventory) -> None:
    order = uuid4()

    await inventory.release(order)
    await inventory.release(order)

    assert await inventory.kinds() == ["StockReleased", "StockReleased"]


async def test_a_release_after_a_failed_reservation_leaves_the_failure_as_the_answer(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=1)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.release(order)

    await inventory.reserve(order, ("A", 2))

    [first, _, again] = [body for _, body in await inventory.published()]
    assert again["reason"] == first["reason"] == "insufficient stock: A is short by 1"
