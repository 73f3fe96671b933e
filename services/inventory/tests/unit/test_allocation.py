"""Allocation: all or nothing; one warehouse when one can serve the whole order, by policy;
otherwise split over the fewest warehouses, still in the policy's order."""

from __future__ import annotations

import pytest

from orderly_inventory.domain.allocation import (
    EXACT_SPLIT_LIMIT,
    Available,
    Pick,
    Policy,
    Shortage,
    allocate,
    wanted_by_sku,
)

STOCK = {
    "A": [Available("west", 2, 10, "west"), Available("east", 1, 3, "east")],
    "B": [Available("east", 1, 0, "east"), Available("west", 2, 4, "west")],
}


# --------------------------------------------------------------------------- priority


def test_a_line_is_served_by_the_first_warehouse_that_has_it() -> None:
    assert allocate([("A", 2)], STOCK) == [Pick("A", "east", 2)]


def test_a_line_one_lower_priority_warehouse_can_serve_whole_is_not_split() -> None:
    assert allocate([("A", 5)], STOCK) == [Pick("A", "west", 5)]


def test_a_line_is_split_across_warehouses_when_none_can_serve_it() -> None:
    assert allocate([("A", 11)], STOCK) == [Pick("A", "east", 3), Pick("A", "west", 8)]


def test_a_warehouse_with_nothing_available_is_skipped() -> None:
    assert allocate([("B", 4)], STOCK) == [Pick("B", "west", 4)]


def test_a_lower_priority_warehouse_that_has_the_whole_order_beats_a_split() -> None:
    # east has A but no B; west has both: one parcel from west, not two.
    assert allocate([("A", 2), ("B", 1)], STOCK) == [Pick("A", "west", 2), Pick("B", "west", 1)]


def test_when_several_warehouses_have_the_whole_order_the_first_by_priority_serves_it() -> None:
    stock = {"A": [Available("west", 2, 9), Available("east", 1, 9), Available("south", 3, 9)]}

    assert allocate([("A", 4)], stock) == [Pick("A", "east", 4)]


def test_every_line_of_an_order_is_allocated_when_it_must_be_split() -> None:
    assert allocate([("B", 1), ("A", 13)], STOCK) == [
        Pick("A", "east", 3),
        Pick("A", "west", 10),
        Pick("B", "west", 1),
    ]


def test_lines_that_no_single_warehouse_has_together_are_split_by_line() -> None:
    stock = {"A": [Available("east", 1, 5)], "B": [Available("west", 2, 5)]}

    assert allocate([("A", 1), ("B", 1)], stock) == [Pick("A", "east", 1), Pick("B", "west", 1)]


def test_a_split_uses_the_fewest_warehouses_even_if_that_skips_the_first_by_priority() -> None:
    # By priority alone A would come from w1 and w2 and B from w2 and w3: three parcels.
    stock = {
        "A": [Available("w1", 1, 2), Available("w2", 2, 3)],
        "B": [Available("w2", 2, 1), Available("w3", 3, 5)],
    }

    assert allocate([("A", 3), ("B", 3)], stock) == [
        Pick("A", "w2", 3),
        Pick("B", "w2", 1),
        Pick("B", "w3", 2),
    ]


def test_among_splits_of_the_same_size_the_policy_order_chooses() -> None:
    stock = {
        "A": [Available("w1", 1, 2)],
        "B": [Available("w3", 3, 2), Available("w2", 2, 2)],
    }

    assert allocate([("A", 1), ("B", 1)], stock) == [Pick("A", "w1", 1), Pick("B", "w2", 1)]


def test_a_split_over_three_warehouses_when_two_cannot_serve_the_order() -> None:
    stock = {
        "A": [Available("w1", 1, 1)],
        "B": [Available("w2", 2, 1)],
        "C": [Available("w3", 3, 1), Available("w4", 4, 1)],
    }

    assert allocate([("A", 1), ("B", 1), ("C", 1)], stock) == [
        Pick("A", "w1", 1),
        Pick("B", "w2", 1),
        Pick("C", "w3", 1),
    ]


def test_warehouses_of_equal_priority_are_taken_in_code_order() -> None:
    stock = {"A": [Available("north", 1, 1), Available("south", 1, 1), Available("alpha", 1, 1)]}

    assert allocate([("A", 2)], stock) == [Pick("A", "alpha", 1), Pick("A", "north", 1)]
    assert allocate([("A", 1)], stock) == [Pick("A", "alpha", 1)]


def test_picks_come_in_sku_then_warehouse_order_whatever_the_policy_order() -> None:
    stock = {"A": [Available("zulu", 1, 2), Available("alpha", 2, 2)]}

    assert allocate([("A", 3)], stock) == [Pick("A", "alpha", 1), Pick("A", "zulu", 2)]


# --------------------------------------------------------------------------- all or nothing


def test_an_order_that_cannot_be_met_takes_nothing_and_names_what_is_short() -> None:
    result = allocate([("A", 1), ("B", 5), ("C", 2)], STOCK)

    assert result == Shortage({"B": 1, "C": 2})
    assert isinstance(result, Shortage)
    assert result.short_skus == ["B", "C"]
    assert result.reason == "insufficient stock: B is short by 1, C is short by 2"


@pytest.mark.parametrize("policy", list(Policy))
def test_an_unknown_sku_is_short_by_its_whole_quantity_under_every_policy(policy: Policy) -> None:
    assert allocate([("NOPE", 3), ("A", 1)], STOCK, policy=policy, ship_region="west") == Shortage(
        {"NOPE": 3}
    )


def test_stock_exactly_equal_to_the_demand_is_enough() -> None:
    assert allocate([("A", 13)], STOCK) == [Pick("A", "east", 3), Pick("A", "west", 10)]
    assert allocate([("A", 14)], STOCK) == Shortage({"A": 1})


def test_repeated_lines_of_one_sku_are_added_up_before_allocating() -> None:
    assert wanted_by_sku([("B", 1), ("A", 2), ("B", 3)]) == {"A": 2, "B": 4}
    assert allocate([("B", 3), ("B", 2)], STOCK) == Shortage({"B": 1})
    assert allocate([("A", 2), ("A", 1)], STOCK) == [Pick("A", "east", 3)]


def test_oversold_rows_count_as_nothing_available() -> None:
    assert allocate([("A", 1)], {"A": [Available("east", 1, -2)]}) == Shortage({"A": 1})
    stock = {"A": [Available("east", 1, -2), Available("west", 2, 1)]}
    assert allocate([("A", 1)], stock) == [Pick("A", "west", 1)]


# --------------------------------------------------------------------------- most stock


def test_most_stock_serves_from_the_warehouse_with_the_most_units_of_the_orders_skus() -> None:
    stock = {
        "A": [Available("east", 1, 3), Available("west", 2, 10)],
        "B": [Available("east", 1, 3), Available("west", 2, 1)],
    }

    assert allocate([("A", 1), ("B", 1)], stock, policy=Policy.MOST_STOCK) == [
        Pick("A", "west", 1),
        Pick("B", "west", 1),
    ]


def test_most_stock_counts_only_the_skus_the_order_wants() -> None:
    stock = {
        "A": [Available("east", 1, 5), Available("west", 2, 4)],
        "Z": [Available("west", 2, 1000)],
    }

    assert allocate([("A", 2)], stock, policy=Policy.MOST_STOCK) == [Pick("A", "east", 2)]


def test_most_stock_still_prefers_one_warehouse_that_has_the_whole_order() -> None:
    # west has more units in all, but no B.
    stock = {
        "A": [Available("east", 1, 2), Available("west", 2, 50)],
        "B": [Available("east", 1, 2)],
    }

    assert allocate([("A", 1), ("B", 1)], stock, policy=Policy.MOST_STOCK) == [
        Pick("A", "east", 1),
        Pick("B", "east", 1),
    ]


def test_most_stock_ties_are_broken_by_priority() -> None:
    stock = {"A": [Available("west", 2, 5), Available("east", 1, 5)]}

    assert allocate([("A", 1)], stock, policy=Policy.MOST_STOCK) == [Pick("A", "east", 1)]


def test_most_stock_splits_from_the_fullest_warehouse_first() -> None:
    stock = {"A": [Available("east", 1, 3), Available("west", 2, 6), Available("south", 3, 1)]}

    assert allocate([("A", 8)], stock, policy=Policy.MOST_STOCK) == [
        Pick("A", "east", 2),
        Pick("A", "west", 6),
    ]


# --------------------------------------------------------------------------- nearest


def test_nearest_serves_from_the_warehouse_of_the_ship_to_region() -> None:
    assert allocate([("A", 2)], STOCK, policy=Policy.NEAREST, ship_region="west") == [
        Pick("A", "west", 2)
    ]
    assert allocate([("A", 2)], STOCK, policy=Policy.NEAREST, ship_region="east") == [
        Pick("A", "east", 2)
    ]


@pytest.mark.parametrize("ship_region", [None, "north"])
def test_nearest_without_a_region_or_with_no_warehouse_there_goes_by_priority(
    ship_region: str | None,
) -> None:
    assert allocate([("A", 2)], STOCK, policy=Policy.NEAREST, ship_region=ship_region) == [
        Pick("A", "east", 2)
    ]


def test_nearest_prefers_one_distant_warehouse_to_a_split_with_the_near_one() -> None:
    stock = {
        "A": [Available("near", 2, 5, "west"), Available("far", 1, 5, "east")],
        "B": [Available("far", 1, 5, "east")],
    }

    assert allocate([("A", 1), ("B", 1)], stock, policy=Policy.NEAREST, ship_region="west") == [
        Pick("A", "far", 1),
        Pick("B", "far", 1),
    ]


def test_nearest_orders_the_warehouses_of_one_region_by_priority() -> None:
    stock = {
        "A": [
            Available("west-2", 3, 5, "west"),
            Available("west-1", 2, 5, "west"),
            Available("east", 1, 5, "east"),
        ]
    }

    assert allocate([("A", 1)], stock, policy=Policy.NEAREST, ship_region="west") == [
        Pick("A", "west-1", 1)
    ]


def test_nearest_splits_from_the_near_warehouse_first() -> None:
    assert allocate([("A", 12)], STOCK, policy=Policy.NEAREST, ship_region="west") == [
        Pick("A", "east", 2),
        Pick("A", "west", 10),
    ]


# --------------------------------------------------------------------------- many warehouses


def test_beyond_the_exact_search_limit_a_split_is_still_served_and_small() -> None:
    n = EXACT_SPLIT_LIMIT + 4
    # Each small warehouse has one unit of one SKU; the last (lowest priority) has most of both.
    stock: dict[str, list[Available]] = {"A": [], "B": []}
    for i in range(n - 1):
        stock["A" if i % 2 else "B"].append(Available(f"w{i:02d}", i, 1))
    stock["A"].append(Available("big", n, 9))
    stock["B"].append(Available("big", n, 9))

    result = allocate([("A", 10), ("B", 10)], stock)

    assert isinstance(result, list)
    assert sum(p.quantity for p in result if p.sku == "A") == 10
    assert sum(p.quantity for p in result if p.sku == "B") == 10
    assert {p.warehouse for p in result} == {"big", "w00", "w01"}
