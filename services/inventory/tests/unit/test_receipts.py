"""Goods receipts and returns: their lines, their movements, and what a repeat may change."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

import pytest

from orderly_inventory.domain.errors import ConflictError, InvalidInputError
from orderly_inventory.domain.ledger import Level, MovementKind
from orderly_inventory.domain.receipts import (
    Condition,
    GoodsReceipt,
    ReturnedLine,
    ReturnRestock,
    check_warehouse,
    receipt_lines,
)
from orderly_schemas.inventory import ReturnLine, ReturnRestocked, StockReceived

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RETURN = UUID("00000000-0000-0000-0000-0000000000a1")
ORDER = UUID("00000000-0000-0000-0000-0000000000b2")


def receipt(*lines: tuple[str, int]) -> GoodsReceipt:
    return GoodsReceipt(
        goods_receipt_id=UUID(int=1),
        purchase_order="PO-77",
        receipt_id="DN-1",
        warehouse="east",
        lines=receipt_lines(list(lines)),
        received_by="erp",
        received_at=NOW,
    )


def test_a_receipt_puts_each_sku_on_the_shelf_referring_to_its_purchase_order() -> None:
    moves = receipt(("TEE", 2), ("MUG", 5)).movements()

    assert [(m.sku, m.warehouse, m.kind, m.quantity, m.on_hand, m.reference) for m in moves] == [
        ("MUG", "east", MovementKind.RECEIPT, 5, 5, "PO-77"),
        ("TEE", "east", MovementKind.RECEIPT, 2, 2, "PO-77"),
    ]
    assert moves[0].reason == "received against purchase order PO-77 (receipt DN-1)"


@pytest.mark.parametrize(
    ("lines", "loc"),
    [
        ([], ("lines",)),
        ([("MUG", 1), ("MUG", 1)], ("lines", 1, "sku")),
        ([("MUG", 0)], ("lines", 0, "quantity")),
    ],
)
def test_invalid_receipt_lines_are_named(lines: list[tuple[str, int]], loc: tuple[object]) -> None:
    with pytest.raises(InvalidInputError) as refused:
        receipt_lines(lines)

    assert refused.value.loc == loc


def test_an_unknown_warehouse_is_named_with_the_known_ones() -> None:
    with pytest.raises(InvalidInputError, match=r"no warehouse 'north' \(known: east, west\)"):
        check_warehouse("north", {"east", "west"})


def test_the_same_receipt_key_with_other_goods_is_a_conflict() -> None:
    first = receipt(("MUG", 5))

    first.check_same(replace(receipt(("MUG", 5)), goods_receipt_id=UUID(int=2)))
    with pytest.raises(ConflictError, match="give a new receipt_id"):
        first.check_same(receipt(("MUG", 6)))


def restock(*lines: ReturnedLine) -> ReturnRestock:
    return ReturnRestock(RETURN, ORDER, "west", lines, "order-saga", NOW)


def test_resellable_returns_go_back_on_the_shelf_and_damaged_ones_are_written_off() -> None:
    moves = restock(
        ReturnedLine("TEE", 1, Condition.DAMAGED), ReturnedLine("MUG", 2, Condition.RESELLABLE)
    ).movements()

    assert [(m.sku, m.kind, m.quantity, m.on_hand, m.reason, m.reference) for m in moves] == [
        (
            "MUG",
            MovementKind.RETURN,
            2,
            2,
            "returned by the customer, back on the shelf",
            str(RETURN),
        ),
        ("TEE", MovementKind.WRITE_OFF, 1, 0, "returned damaged", str(RETURN)),
    ]


def test_a_re_sent_return_is_the_same_goods_in_any_order() -> None:
    mug = ReturnedLine("MUG", 2, Condition.RESELLABLE)
    tee = ReturnedLine("TEE", 1, Condition.DAMAGED)

    assert restock(mug, tee).same_goods(restock(tee, mug))
    assert not restock(mug).same_goods(restock(mug, tee))


def test_a_receipt_announces_each_sku_with_the_on_hand_it_left() -> None:
    received = receipt(("MUG", 4), ("TEE", 1))
    after = [Level("MUG", "east", 10, 2, 0, 0, False), Level("TEE", "east", 1, 0, 0, 0, False)]

    assert received.arrivals(after) == [
        StockReceived(
            sku=sku,
            warehouse="east",
            occurred_at=NOW,
            quantity=quantity,
            on_hand=on_hand,
            reference="PO-77",
            actor="erp",
        )
        for sku, quantity, on_hand in [("MUG", 4, 10), ("TEE", 1, 1)]
    ]


def test_a_restocked_return_answers_with_every_line_and_its_condition() -> None:
    done = restock(
        ReturnedLine("TEE", 1, Condition.DAMAGED), ReturnedLine("MUG", 2, Condition.RESELLABLE)
    )

    assert done.answer() == ReturnRestocked(
        order_id=ORDER,
        occurred_at=NOW,
        return_id=RETURN,
        warehouse="west",
        lines=[
            ReturnLine(sku="TEE", quantity=1, condition="damaged"),
            ReturnLine(sku="MUG", quantity=2, condition="resellable"),
        ],
    )
