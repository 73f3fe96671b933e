"""The catalogue: products and opening stock imported from the ERP, and warehouses.

Each runs in the caller's unit of work (one transaction with the outbox) and
changes stock only through the ledger (``ledger.move_each`` for an import), locking
levels in (sku, warehouse) order like every other writer. An import is all or
nothing: every row is checked first, and one rejected row leaves the database as it
was.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from orderly_inventory.adapters.catalogue import CatalogueRepository
from orderly_inventory.adapters.stock import StockRepository
from orderly_inventory.domain.corrections import StockRuleError, opening_stock
from orderly_inventory.domain.errors import ConflictError
from orderly_inventory.domain.ledger import Level, Movement
from orderly_inventory.formats.catalogue import (
    Numbered,
    OpeningStockRow,
    Parsed,
    ProductRow,
    Rejection,
)
from orderly_inventory.use_cases import ledger
from orderly_kit.audit import Actor
from orderly_kit.messaging import UnitOfWork

log = logging.getLogger(__name__)


class ImportRejectedError(Exception):
    """Rows of an import were rejected, so nothing of it was applied."""

    def __init__(self, total: int, rejected: list[Rejection]) -> None:
        rows = len({r.row for r in rejected})
        super().__init__(f"{rows} of {total} row(s) rejected; nothing was imported")
        self.total = total
        self.rejected = sorted(rejected, key=lambda r: r.row)


@dataclass(frozen=True)
class ProductImport:
    rows: int
    created: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class StockImport:
    rows: int
    levels_created: int
    movements: int  # opening movements written
    safety_stock_changed: int
    unchanged: int


async def import_products(
    uow: UnitOfWork, parsed: Parsed[ProductRow], *, actor: Actor, at: datetime | None = None
) -> ProductImport:
    """Create or replace every product of the file, or none if any row was rejected.

    Audited (``catalogue.import``, with what it created and changed)."""
    if parsed.rejected:
        raise ImportRejectedError(parsed.total, parsed.rejected)
    created, updated = await CatalogueRepository(uow.session).upsert_products(
        [n.value.model_dump() for n in parsed.rows], at=at or uow.now()
    )
    done = ProductImport(
        rows=parsed.total,
        created=created,
        updated=updated,
        unchanged=len(parsed.rows) - created - updated,
    )
    await uow.audit(
        actor=actor, action="catalogue.import", target="catalogue:products", after=asdict(done)
    )
    return done


async def import_opening_stock(
    uow: UnitOfWork,
    parsed: Parsed[OpeningStockRow],
    *,
    actor: Actor,
    reference: str | None = None,
    at: datetime | None = None,
) -> StockImport:
    """Set the opening stock (and safety stock) of every row, or of none if any is rejected.

    A row's warehouse must exist and its SKU be a known product. Opening stock is
    written as an OPENING movement of the difference to the current on hand, and
    only for a level that nothing but opening stock has moved yet (see
    ``domain.corrections.opening_stock``); a row equal to what is there changes
    nothing, so a file imported twice moves stock once. A level the import creates
    takes the row's safety stock, or else its product's default. A changed safety
    stock may make a level low (or no longer low): the alert is published once. Audited
    (``stock.import_opening``).
    """
    now = at or uow.now()
    catalogue = CatalogueRepository(uow.session)
    stock = StockRepository(uow.session)
    rejected = list(parsed.rejected)
    found = await catalogue.warehouse_codes()
    defaults = await catalogue.default_safety_stocks({n.value.sku for n in parsed.rows})
    known: list[Numbered[OpeningStockRow]] = []
    for n in parsed.rows:
        row = n.value
        if row.warehouse not in found:
            rejected.append(
                _rejection(
                    n,
                    "warehouse",
                    row.warehouse,
                    f"no warehouse {row.warehouse!r}: add it first (POST /warehouses)",
                )
            )
        if row.sku not in defaults:
            rejected.append(
                _rejection(
                    n,
                    "sku",
                    row.sku,
                    f"no product has sku {row.sku!r}: import it first (POST /imports/products)",
                )
            )
        if row.warehouse in found and row.sku in defaults:
            known.append(n)
    known.sort(key=lambda n: (n.value.sku, n.value.warehouse))
    created = await stock.create_levels(
        [
            (
                n.value.sku,
                n.value.warehouse,
                defaults[n.value.sku] if n.value.safety_stock is None else n.value.safety_stock,
            )
            for n in known
        ],
        at=now,
    )
    keys = [(n.value.sku, n.value.warehouse) for n in known]
    locked = await stock.lock_levels_at_once(keys)
    moved = await stock.moved_besides_openings(keys)
    decided: list[tuple[Numbered[OpeningStockRow], Level, Movement | None]] = []
    for n in known:
        row = n.value
        level = locked[row.sku, row.warehouse]
        try:
            movement = opening_stock(
                level,
                row.on_hand,
                only_openings=(row.sku, row.warehouse) not in moved,
                actor=actor.name,
                reference=reference,
            )
        except StockRuleError as refused:
            rejected.append(_rejection(n, refused.field, str(row.on_hand), refused.message))
            continue
        decided.append((n, level, movement))
    if rejected:
        raise ImportRejectedError(parsed.total, rejected)

    # In a few statements however long the file: the levels are locked already.
    new_safety = [
        (n.value.sku, n.value.warehouse, units)
        for n, level, _ in decided
        if (units := n.value.safety_stock) is not None and units != level.safety_stock
    ]
    changed = {
        (level.sku, level.warehouse): level
        for level in await stock.set_safety_stocks(new_safety, at=now)
    }
    # Judged against the new safety stock: one alert at most per level.
    opened = await ledger.move_each(uow, [m for _, _, m in decided if m is not None], at=now)
    for n, level, movement in decided:
        if movement is None:
            key = (n.value.sku, n.value.warehouse)
            await ledger.alert_if_crossed(uow, changed.get(key, level), at=now)
    unchanged = sum(
        1
        for n, _, movement in decided
        if movement is None
        and (n.value.sku, n.value.warehouse) not in changed
        and (n.value.sku, n.value.warehouse) not in created
    )
    log.info(
        "opening stock imported by %s: %d rows, %d levels created, %d movements",
        actor.name,
        parsed.total,
        len(created),
        len(opened),
    )
    done = StockImport(
        rows=parsed.total,
        levels_created=len(created),
        movements=len(opened),
        safety_stock_changed=len(changed),
        unchanged=unchanged,
    )
    await uow.audit(
        actor=actor,
        action="stock.import_opening",
        target="stock:opening",
        after={**asdict(done), "reference": reference},
    )
    return done


def _rejection(n: Numbered[Any], field: str, value: str, reason: str) -> Rejection:
    return Rejection(row=n.row, line=n.line, field=field, value=value, reason=reason)


async def add_warehouse(
    uow: UnitOfWork, *, code: str, name: str, region: str | None, priority: int
) -> bool:
    """Add a warehouse; False if the same one exists already (a retried request).

    Raises ConflictError if a different warehouse has the code.
    """
    catalogue = CatalogueRepository(uow.session)
    values = {"code": code, "name": name, "region": region, "priority": priority}
    if await catalogue.add_warehouse(values):
        log.info("warehouse %s added", code)
        return True
    existing = await catalogue.warehouse(code)
    if existing != values:
        assert existing is not None
        shown = ", ".join(f"{k} {v!r}" for k, v in existing.items() if k != "code")
        raise ConflictError(f"warehouse {code!r} exists already ({shown}): choose another code")
    return False
