"""Stock levels set by hand: a level's safety stock, and adjustments of its on-hand units.

Each runs in the caller's unit of work (one transaction with the outbox), locks its
level first and changes stock only through the ledger (``ledger.move``). An
adjustment is kept under the id its client chose, so a retry answers as the first
did and moves nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orderly_inventory.adapters.catalogue import CatalogueRepository
from orderly_inventory.adapters.stock import StockRepository
from orderly_inventory.domain.corrections import adjustment, adjustment_notice
from orderly_inventory.domain.errors import ConflictError, NotFoundError
from orderly_inventory.domain.ledger import Level
from orderly_inventory.use_cases import ledger
from orderly_kit.audit import Actor
from orderly_kit.messaging import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Adjustment:
    adjustment_id: str
    sku: str
    warehouse: str
    quantity: int
    on_hand: int  # after the adjustment
    reason: str
    reference: str | None
    actor: str
    movement_id: int
    occurred_at: datetime
    replayed: bool  # an earlier request with the same id made it; nothing changed now


async def _lock_level(
    uow: UnitOfWork, sku: str, warehouse: str, *, at: datetime, safety_stock: int | None = None
) -> Level:
    """Lock the level of ``sku`` at ``warehouse``, creating it empty for a known product.

    Raises NotFoundError for an unknown warehouse, or a SKU with neither stock there nor
    a product. A level created here takes ``safety_stock``, or the product's default.
    """
    catalogue = CatalogueRepository(uow.session)
    stock = StockRepository(uow.session)
    if warehouse not in await catalogue.warehouse_codes():
        raise NotFoundError(f"no warehouse {warehouse!r}")
    locked = await stock.lock_levels([(sku, warehouse)])
    if not locked:
        default = (await catalogue.default_safety_stocks([sku])).get(sku)
        if default is None:
            raise NotFoundError(
                f"sku {sku!r} is neither a product nor stocked at warehouse {warehouse!r}"
            )
        units = default if safety_stock is None else safety_stock
        await stock.create_levels([(sku, warehouse, units)], at=at)
        locked = await stock.lock_levels([(sku, warehouse)])
    return locked[sku, warehouse]


async def set_safety_stock(
    uow: UnitOfWork, *, sku: str, warehouse: str, units: int, actor: str
) -> Level:
    """Set the safety stock of a level; LowStockDetected or BackInStock at once if it crosses."""
    now = uow.now()
    await _lock_level(uow, sku, warehouse, at=now, safety_stock=units)
    stock = StockRepository(uow.session)
    (level,) = await stock.set_safety_stocks([(sku, warehouse, units)], at=now)
    await ledger.alert_if_crossed(uow, level, at=now)
    log.info("safety stock of %s at %s set to %d by %s", sku, warehouse, units, actor)
    return level


async def adjust_stock(
    uow: UnitOfWork,
    *,
    adjustment_id: str,
    sku: str,
    warehouse: str,
    quantity: int,
    reason: str,
    actor: Actor,
    reference: str | None = None,
) -> Adjustment:
    """Correct on-hand stock by ``quantity`` (signed) units, once per ``adjustment_id``.

    An ADJUSTMENT movement and StockAdjusted (keyed by SKU). The same id again with
    the same request returns the first answer and changes nothing; with another
    request it raises ConflictError. Raises StockRuleError when the level would be
    left with fewer units on hand than are reserved. Audited (``stock.adjust``).
    """
    now = uow.now()
    stock = StockRepository(uow.session)
    level = await _lock_level(uow, sku, warehouse, at=now)
    asked = {
        "sku": sku,
        "warehouse": warehouse,
        "quantity": quantity,
        "reason": reason,
        "reference": reference,
        "actor": actor.name,
    }
    earlier = await stock.adjustment_of(adjustment_id)
    if earlier is not None:
        return _answer_again(adjustment_id, earlier, asked)
    movement = adjustment(
        level, quantity, reason=reason, actor=actor.name, reference=reference or adjustment_id
    )
    on_hand_before = level.on_hand
    (after,) = await ledger.move(uow, [movement], at=now)
    movement_id = await stock.last_movement_id(sku, warehouse)
    if not await stock.record_adjustment(
        {
            **asked,
            "adjustment_id": adjustment_id,
            "movement_id": movement_id,
            "on_hand": after.on_hand,
            "occurred_at": now,
        }
    ):
        # Taken meanwhile by a request for another level (the same level would have waited).
        raise ConflictError(
            f"adjustment id {adjustment_id!r} was used meanwhile by another adjustment:"
            " choose a new id for a new adjustment"
        )
    await uow.publish(adjustment_notice(movement, after, at=now), key=sku)
    await uow.audit(
        actor=actor,
        action="stock.adjust",
        target=f"stock:{sku}@{warehouse}",
        before={"on_hand": on_hand_before},
        after={
            "on_hand": after.on_hand,
            "quantity": quantity,
            "reason": reason,
            "reference": reference,
            "adjustment_id": adjustment_id,
        },
    )
    log.info("%s at %s adjusted by %+d by %s: %s", sku, warehouse, quantity, actor.name, reason)
    return Adjustment(
        adjustment_id=adjustment_id,
        sku=sku,
        warehouse=warehouse,
        quantity=quantity,
        on_hand=after.on_hand,
        reason=reason,
        reference=reference,
        actor=actor.name,
        movement_id=movement_id,
        occurred_at=now,
        replayed=False,
    )


def _answer_again(adjustment_id: str, earlier: dict[str, Any], asked: dict[str, Any]) -> Adjustment:
    differs = sorted(k for k, v in asked.items() if earlier[k] != v)
    if differs:
        raise ConflictError(
            f"adjustment id {adjustment_id!r} was already used for another adjustment"
            f" (it differs in {', '.join(differs)}): choose a new id for a new adjustment"
        )
    return Adjustment(
        adjustment_id=adjustment_id,
        sku=earlier["sku"],
        warehouse=earlier["warehouse"],
        quantity=earlier["quantity"],
        on_hand=earlier["on_hand"],
        reason=earlier["reason"],
        reference=earlier["reference"],
        actor=earlier["actor"],
        movement_id=earlier["movement_id"],
        occurred_at=earlier["occurred_at"],
        replayed=True,
    )
