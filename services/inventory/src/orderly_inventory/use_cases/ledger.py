"""Moving stock: the one way any stock level changes.

Each movement is written to the ledger and applied to its level in the caller's
unit of work, and a level whose available stock crosses its safety stock says
so once (LowStockDetected, then BackInStock when it recovers). Callers lock the
stock rows first, in (sku, warehouse) order, as the repository's lock order says.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from orderly_inventory.adapters.stock import StockRepository
from orderly_inventory.domain.ledger import Level, Movement
from orderly_kit.messaging import UnitOfWork
from orderly_schemas.inventory import LowStockDetected


async def move(uow: UnitOfWork, movements: Iterable[Movement], *, at: datetime) -> list[Level]:
    """Record and apply ``movements`` (in order); publish any low-stock crossing they cause."""
    stock = StockRepository(uow.session)
    levels = []
    for movement in movements:
        level = await stock.apply_movement(movement, at=at)
        await _alert_on_crossing(uow, stock, level, at=at)
        levels.append(level)
    return levels


async def move_each(uow: UnitOfWork, movements: Sequence[Movement], *, at: datetime) -> list[Level]:
    """``move`` for many levels at once, one movement each, in a few statements.

    For bulk work such as an import: the levels must exist, each be named once,
    and be locked by the caller already (in (sku, warehouse) order).
    """
    stock = StockRepository(uow.session)
    levels = await stock.apply_movements(movements, at=at)
    for level in levels:
        await _alert_on_crossing(uow, stock, level, at=at)
    return levels


async def alert_if_crossed(uow: UnitOfWork, level: Level, *, at: datetime) -> None:
    """Publish the alert a changed safety stock (rather than a movement) may call for."""
    await _alert_on_crossing(uow, StockRepository(uow.session), level, at=at)


async def _alert_on_crossing(
    uow: UnitOfWork, stock: StockRepository, level: Level, *, at: datetime
) -> None:
    alert = level.alert(at=at)
    if alert is None:
        return
    await stock.set_low_stock(level.sku, level.warehouse, low=isinstance(alert, LowStockDetected))
    await uow.publish(alert, key=level.sku)
