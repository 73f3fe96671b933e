"""Allocation: all or nothing, by warehouse priority, splitting a line only when it must."""

from __future__ import annotations

from orderly_inventory.domain.allocation import Available, Pick, Shortage, allocate, wanted_by_sku

STOCK = {
    "A": [Available("west", 2, 10), Available("east", 1, 3)],
    "B": [Available("east", 1, 0), Available("west", 2, 4)],
}


def test_a_line_is_served_by_the_first_warehouse_that_has_it() -> None:
    assert allocate([("A", 2)], STOCK) == [Pick("A", "east", 2)]


def test_a_line_is_split_across_warehouses_when_one_cannot_serve_it() -> None:
    assert allocate([("A", 5)], STOCK) == [Pick("A", "east", 3), Pick("A", "west", 2)]


def test_a_warehouse_with_nothing_available_is_skipped() -> None:
    assert allocate([("B", 4)], STOCK) == [Pick("B", "west", 4)]


def test_every_line_of_an_order_is_allocated() -> None:
    assert allocate([("B", 1), ("A", 13)], STOCK) == [
        Pick("A", "east", 3),
        Pick("A", "west", 10),
        Pick("B", "west", 1),
    ]


def test_an_order_that_cannot_be_met_takes_nothing_and_names_what_is_short() -> None:
    result = allocate([("A", 1), ("B", 5), ("C", 2)], STOCK)

    assert result == Shortage({"B": 1, "C": 2})
    assert isinstance(result, Shortage)
    assert result.short_skus == ["B", "C"]
    assert result.reason == "insufficient stock: B is short by 1, C is short by 2"


def test_an_unknown_sku_is_short_by_its_whole_quantity() -> None:
    assert allocate([("NOPE", 3)], STOCK) == Shortage({"NOPE": 3})


def test_stock_exactly_equal_to_the_demand_is_enough() -> None:
    assert allocate([("A", 13)], STOCK) == [Pick("A", "east", 3), Pick("A", "west", 10)]
    assert allocate([("A", 14)], STOCK) == Shortage({"A": 1})


def test_repeated_lines_of_one_sku_are_added_up_before_allocating() -> None:
    assert wanted_by_sku([("B", 1), ("A", 2), ("B", 3)]) == {"A": 2, "B": 4}
    assert allocate([("B", 3), ("B", 2)], STOCK) == Shortage({"B": 1})


def test_warehouses_of_equal_priority_are_taken_in_code_order() -> None:
    stock = {"A": [Available("north", 1, 1), Available("south", 1, 1), Available("alpha", 1, 1)]}

    assert allocate([("A", 2)], stock) == [Pick("A", "alpha", 1), Pick("A", "north", 1)]


def test_oversold_rows_count_as_nothing_available() -> None:
    assert allocate([("A", 1)], {"A": [Available("east", 1, -2)]}) == Shortage({"A": 1})
