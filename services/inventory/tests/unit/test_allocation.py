"""Allocation: all or nothing, by warehouse priority, splitting a line only when it must."""

from __future__ import annotations

from orderly_inventory.domain.allocation import Available, Pick, Shortage, allocate

STOCK = {
    "A": [Available("west", 2, 10), Available("east", 1, 3)],
    "B": [Available("east", 1, 0), Available("west", 2, 4)],
}


def test_a_line_is_served_by_the_first_warehouse_that_has_it() -> None:
    assert allocate([("A", 2)], STOCK) == [Pick("A", "east", 2)]


def test_a_line_is_split_across_warehouses_when_one_cannot_serve_it() -> None:
    assert allocate([("A", 5)], STOCK) == [Pick("A", "east", 3), Pick("A", "west", 2)]


def test_an_order_that_cannot_be_met_takes_nothing_and_names_what_is_short() -> None:
    result = allocate([("A", 1), ("B", 5), ("C", 2)], STOCK)
    assert result == Shortage({"B": 1, "C": 2})
    assert isinstance(result, Shortage)
    assert result.reason == "insufficient stock: B is short by 1, C is short by 2"
