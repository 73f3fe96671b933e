"""What the after-sales report counts of an order's or a return's lines: units per SKU."""

from __future__ import annotations

from orderly_schemas.base import Money, OrderLine
from orderly_schemas.inventory import ReturnLine
from orderly_support.domain.after_sales import units_by_sku


def test_an_order_s_lines_of_one_sku_add_up() -> None:
    price = Money(amount=100, currency="EUR")
    lines = [
        OrderLine(sku="TEA-002", quantity=1, unit_price=price),
        OrderLine(sku="MUG-001", quantity=2, unit_price=price),
        OrderLine(sku="MUG-001", quantity=3, unit_price=price),
    ]

    assert units_by_sku(lines) == (["MUG-001", "TEA-002"], [5, 1])


def test_a_return_s_units_count_whatever_their_condition() -> None:
    received = [
        ReturnLine(sku="MUG-001", quantity=1, condition="resellable"),
        ReturnLine(sku="MUG-001", quantity=2, condition="damaged"),
    ]

    assert units_by_sku(received) == (["MUG-001"], [3])
