"""Adjustments: the movement a manual correction makes, and the event that announces it."""

from __future__ import annotations

from datetime import UTC, datetime

from orderly_inventory.domain.corrections import adjustment, adjustment_notice
from orderly_inventory.domain.ledger import Level
from orderly_schemas.inventory import StockAdjusted

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_an_adjustment_announces_the_change_and_the_on_hand_it_left() -> None:
    before = Level("MUG", "east", 10, 2, 0, 0, False)
    movement = adjustment(before, -3, reason="broken on the shelf", actor="ana", reference="T-9")
    after = Level("MUG", "east", 7, 2, 0, 0, False)

    assert adjustment_notice(movement, after, at=NOW) == StockAdjusted(
        sku="MUG",
        warehouse="east",
        occurred_at=NOW,
        quantity_change=-3,
        on_hand=7,
        reason="broken on the shelf",
        reference="T-9",
        actor="ana",
    )
