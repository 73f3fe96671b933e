"""Setting stock by hand: opening stock from the ERP, and manual adjustments (no I/O)."""

from __future__ import annotations

from datetime import datetime

from orderly_inventory.domain.errors import ConflictError
from orderly_inventory.domain.ledger import Level, Movement, MovementKind
from orderly_schemas.inventory import StockAdjusted

#: The reason recorded with opening stock the ERP import sets.
OPENING_REASON = "opening stock from the ERP import"


class StockRuleError(ConflictError):
    """A change the stock as it is refuses; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def opening_stock(
    current: Level, on_hand: int, *, only_openings: bool, actor: str, reference: str | None
) -> Movement | None:
    """The opening movement that brings ``current`` to ``on_hand``; None if it is there already.

    Opening stock sets where the ledger starts: once a level has any other movement
    (``only_openings`` is False: a reservation, a shipment, a receipt…) its on hand is
    the ledger's, and only a stock-take or an adjustment may correct it. A figure
    equal to the current on hand changes nothing, so that the same file can be
    imported again.
    """
    change = on_hand - current.on_hand
    if change == 0:
        return None
    where = f"sku {current.sku!r} at warehouse {current.warehouse!r}"
    if not only_openings:
        raise StockRuleError(
            "on_hand",
            f"{where} has {current.on_hand} on hand and movements other than opening stock"
            f" already, so opening stock can no longer set it to {on_hand}: correct it with a"
            f" stock-take or an adjustment (POST /stock/{current.sku}/{current.warehouse}"
            "/adjustments)",
        )
    if on_hand < current.reserved:
        raise StockRuleError(
            "on_hand",
            f"{where}: on_hand {on_hand} is below the {current.reserved} units reserved there",
        )
    return Movement(
        sku=current.sku,
        warehouse=current.warehouse,
        kind=MovementKind.OPENING,
        quantity=abs(change),
        on_hand=change,
        reason=OPENING_REASON if current.on_hand == 0 else f"{OPENING_REASON} (corrected)",
        actor=actor,
        reference=reference,
    )


def adjustment(
    current: Level, quantity: int, *, reason: str, actor: str, reference: str | None
) -> Movement:
    """The movement of a manual correction of ``quantity`` (signed) units of on-hand stock.

    Refused when it would leave fewer units on hand than are reserved for orders.
    """
    if quantity == 0:
        raise StockRuleError("quantity", "quantity must not be 0: an adjustment changes on hand")
    after = current.on_hand + quantity
    if after < current.reserved:
        raise StockRuleError(
            "quantity",
            f"adjusting sku {current.sku!r} at warehouse {current.warehouse!r} by {quantity}"
            f" would leave {after} on hand, below the {current.reserved} units reserved for"
            " orders: release or ship those orders first, or adjust by less",
        )
    return Movement(
        sku=current.sku,
        warehouse=current.warehouse,
        kind=MovementKind.ADJUSTMENT,
        quantity=abs(quantity),
        on_hand=quantity,
        reason=reason,
        actor=actor,
        reference=reference,
    )


def adjustment_notice(movement: Movement, after: Level, *, at: datetime) -> StockAdjusted:
    """StockAdjusted for an ADJUSTMENT ``movement`` (see ``adjustment``) that left ``after``."""
    return StockAdjusted(
        sku=after.sku,
        warehouse=after.warehouse,
        occurred_at=at,
        quantity_change=movement.on_hand,
        on_hand=after.on_hand,
        reason=movement.reason,
        reference=movement.reference,
        actor=movement.actor,
    )
