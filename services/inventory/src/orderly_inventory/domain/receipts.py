"""Goods coming in: receipts against purchase orders and customer returns (no I/O).

Both are recorded once under a key (purchase order and delivery note; return id),
so a retried request or a redelivered command finds the record and moves nothing
twice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from orderly_inventory.domain.errors import ConflictError, InvalidInputError, one_line_per_sku
from orderly_inventory.domain.ledger import Level, Movement, MovementKind
from orderly_schemas.inventory import ReturnLine, ReturnRestocked, StockReceived

#: The reason of a damaged return's write-off.
RETURNED_DAMAGED = "returned damaged"
RETURNED_RESELLABLE = "returned by the customer, back on the shelf"


def check_warehouse(warehouse: str, warehouses: Collection[str]) -> None:
    """InvalidInputError (field ``warehouse``) unless ``warehouse`` is one of ``warehouses``."""
    if warehouse not in warehouses:
        known = ", ".join(sorted(warehouses)) or "none"
        raise InvalidInputError(
            ("warehouse",), f"no warehouse {warehouse!r} (known: {known})", value=warehouse
        )


@dataclass(frozen=True)
class ReceiptLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class GoodsReceipt:
    """Goods received into a warehouse against a purchase order, under the supplier's note."""

    goods_receipt_id: UUID
    purchase_order: str
    receipt_id: str  # the delivery note or the ERP's receipt number
    warehouse: str
    lines: tuple[ReceiptLine, ...]  # one per SKU, in SKU order
    received_by: str
    received_at: datetime
    #: SKUs the products table did not know: added, named after the SKU, by this receipt.
    new_products: tuple[str, ...] = ()

    def check_same(self, other: GoodsReceipt) -> None:
        """A retried receipt must repeat the first; the same key with other goods is a conflict."""
        if (self.warehouse, self.lines) == (other.warehouse, other.lines):
            return
        raise ConflictError(
            f"receipt {self.receipt_id!r} of purchase order {self.purchase_order!r} was already"
            f" recorded ({self.goods_receipt_id}) with other goods or another warehouse;"
            " give a new receipt_id for another delivery"
        )

    def movements(self) -> list[Movement]:
        """Onto the warehouse's shelf, one RECEIPT per SKU, in SKU order."""
        return [
            Movement(
                sku=line.sku,
                warehouse=self.warehouse,
                kind=MovementKind.RECEIPT,
                quantity=line.quantity,
                on_hand=line.quantity,
                reason=f"received against purchase order {self.purchase_order}"
                f" (receipt {self.receipt_id})",
                reference=self.purchase_order,
                actor=self.received_by,
            )
            for line in self.lines
        ]

    def arrivals(self, levels: Sequence[Level]) -> list[StockReceived]:
        """StockReceived per SKU, given the levels its ``movements`` left (in the same order)."""
        return [
            level.arrival(
                line.quantity,
                reference=self.purchase_order,
                actor=self.received_by,
                at=self.received_at,
            )
            for line, level in zip(self.lines, levels, strict=True)
        ]


def receipt_lines(lines: Sequence[tuple[str, int]]) -> tuple[ReceiptLine, ...]:
    """The lines of a receipt in SKU order; InvalidInputError names a line that is not valid."""
    return tuple(ReceiptLine(sku, n) for sku, n in one_line_per_sku(lines, "a receipt"))


class Condition(StrEnum):
    RESELLABLE = "resellable"
    DAMAGED = "damaged"


@dataclass(frozen=True)
class ReturnedLine:
    sku: str
    quantity: int
    condition: Condition


@dataclass(frozen=True)
class ReturnRestock:
    """A customer's return, put back on the shelf or written off, once."""

    return_id: UUID
    order_id: UUID
    warehouse: str
    lines: tuple[ReturnedLine, ...]
    restocked_by: str
    restocked_at: datetime

    def same_goods(self, other: ReturnRestock) -> bool:
        """Whether ``other`` restocks the same goods into the same warehouse (a re-send)."""
        return (self.order_id, self.warehouse, sorted(self.lines, key=_line_key)) == (
            other.order_id,
            other.warehouse,
            sorted(other.lines, key=_line_key),
        )

    def movements(self) -> list[Movement]:
        """A RETURN onto the shelf per resellable line, a WRITE_OFF per damaged one, by SKU."""
        moves = []
        for line in sorted(self.lines, key=_line_key):
            resellable = line.condition is Condition.RESELLABLE
            moves.append(
                Movement(
                    sku=line.sku,
                    warehouse=self.warehouse,
                    kind=MovementKind.RETURN if resellable else MovementKind.WRITE_OFF,
                    quantity=line.quantity,
                    on_hand=line.quantity if resellable else 0,
                    reason=RETURNED_RESELLABLE if resellable else RETURNED_DAMAGED,
                    reference=str(self.return_id),
                    actor=self.restocked_by,
                )
            )
        return moves

    def answer(self) -> ReturnRestocked:
        """ReturnRestocked: the answer to every RestockReturn of this return."""
        return ReturnRestocked(
            order_id=self.order_id,
            occurred_at=self.restocked_at,
            return_id=self.return_id,
            warehouse=self.warehouse,
            lines=[
                ReturnLine(sku=ln.sku, quantity=ln.quantity, condition=ln.condition.value)
                for ln in self.lines
            ],
        )


def _line_key(line: ReturnedLine) -> tuple[str, str, int]:
    return (line.sku, line.condition.value, line.quantity)


class ReturnConflictError(ConflictError):
    """A return restocked before, asked again with other goods."""

    def __init__(self, done: ReturnRestock) -> None:
        lines = "; ".join(f"{ln.quantity} x {ln.sku} {ln.condition}" for ln in done.lines)
        super().__init__(
            f"return {done.return_id} was already restocked into {done.warehouse}"
            f" at {done.restocked_at.isoformat()} ({lines}); a restock cannot be changed:"
            " correct stock with an adjustment"
        )
