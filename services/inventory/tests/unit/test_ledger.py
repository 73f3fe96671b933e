"""Low-stock alerts: a level says so once when it crosses its safety stock, and once back."""

from __future__ import annotations

from datetime import UTC, datetime

from orderly_inventory.domain.ledger import Level
from orderly_schemas.inventory import BackInStock, LowStockDetected

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def level(*, on_hand: int, reserved: int = 0, safety_stock: int = 5, low: bool = False) -> Level:
    return Level(
        sku="SKU-1",
        warehouse="east",
        on_hand=on_hand,
        reserved=reserved,
        in_transit=0,
        safety_stock=safety_stock,
        low_stock=low,
    )


def test_a_level_falling_below_its_safety_stock_detects_low_stock() -> None:
    alert = level(on_hand=6, reserved=2).alert(at=NOW)

    assert alert == LowStockDetected(
        sku="SKU-1", warehouse="east", occurred_at=NOW, available=4, safety_stock=5
    )


def test_a_low_level_back_at_its_safety_stock_is_back_in_stock() -> None:
    alert = level(on_hand=5, low=True).alert(at=NOW)

    assert alert == BackInStock(
        sku="SKU-1", warehouse="east", occurred_at=NOW, available=5, safety_stock=5
    )


def test_a_level_that_stays_on_its_side_of_the_line_raises_no_alert() -> None:
    assert level(on_hand=3, low=True).alert(at=NOW) is None
    assert level(on_hand=9).alert(at=NOW) is None
