"""Stock levels and their ledger of movements in PostgreSQL, in the caller's transaction.

Callers lock levels in (sku, warehouse) order: see the lock order in ``adapters``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.orm import (
    stock_adjustments,
    stock_levels,
    stock_movements,
    warehouses,
)
from orderly_inventory.domain.allocation import Available
from orderly_inventory.domain.ledger import Discrepancy, Level, Movement
from orderly_kit.db import insert_unless_exists

# Statements of every reservation and shipment, built once with parameters: SQLAlchemy
# then looks their compiled form up instead of building and keying them anew.
_ADD_TO_LEVEL = (
    update(stock_levels)
    .where(
        stock_levels.c.sku == bindparam("level_sku"),
        stock_levels.c.warehouse == bindparam("level_warehouse"),
    )
    .values(
        on_hand=stock_levels.c.on_hand + bindparam("on_hand_delta"),
        reserved=stock_levels.c.reserved + bindparam("reserved_delta"),
        in_transit=stock_levels.c.in_transit + bindparam("in_transit_delta"),
        updated_at=bindparam("level_updated_at"),
    )
    .returning(
        stock_levels.c.on_hand,
        stock_levels.c.reserved,
        stock_levels.c.in_transit,
        stock_levels.c.safety_stock,
        stock_levels.c.low_stock,
    )
)


_RECORD_MOVEMENT = insert(stock_movements)


class StockRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_stock(self, skus: Iterable[str]) -> dict[str, list[Available]]:
        """Lock the stock rows of ``skus`` (in (sku, warehouse) order) and say what each can give.

        Rows are locked as the sorted result is read, so two orders that share SKUs
        take their locks in the same order and wait for each other instead of deadlocking.
        """
        query = (
            select(
                stock_levels.c.sku,
                stock_levels.c.warehouse,
                stock_levels.c.on_hand,
                stock_levels.c.reserved,
                warehouses.c.priority,
                warehouses.c.region,
            )
            .join(warehouses, warehouses.c.code == stock_levels.c.warehouse)
            .where(stock_levels.c.sku.in_(sorted(set(skus))))
            .order_by(stock_levels.c.sku, stock_levels.c.warehouse)
            .with_for_update(of=stock_levels)
        )
        stock: dict[str, list[Available]] = {}
        for r in await self.session.execute(query):
            stock.setdefault(r.sku, []).append(
                Available(r.warehouse, r.priority, r.on_hand - r.reserved, r.region)
            )
        return stock

    async def lock_levels(
        self, keys: Iterable[tuple[str, str]], *, create: Collection[tuple[str, str]] = ()
    ) -> dict[tuple[str, str], Level]:
        """Lock the stock rows of ``keys`` ((sku, warehouse) pairs), one by one in that order.

        The rows in ``create`` are created first if missing (a destination that never
        held the SKU), each in its turn, so even a new row is first touched in order.
        A key without a row is absent from the result.
        """
        c = stock_levels.c
        locked = {}
        for sku, warehouse in sorted(set(keys)):
            if (sku, warehouse) in create:
                await self.session.execute(
                    pg_insert(stock_levels)
                    .values(sku=sku, warehouse=warehouse)
                    .on_conflict_do_nothing()
                )
            row = (
                await self.session.execute(
                    select(c.on_hand, c.reserved, c.in_transit, c.safety_stock, c.low_stock)
                    .where(c.sku == sku, c.warehouse == warehouse)
                    .with_for_update()
                )
            ).first()
            if row is not None:
                locked[sku, warehouse] = Level(sku, warehouse, *row)
        return locked

    async def apply_movement(self, movement: Movement, *, at: datetime) -> Level:
        """Write ``movement`` to the ledger and add its deltas to its level.

        A level that does not exist yet is created by a movement that only adds
        (a receipt into a new warehouse); the table's CHECKs refuse an oversell or
        a negative level, and the whole transaction with it.
        """
        m = movement
        if m.on_hand >= 0 and m.reserved >= 0 and m.in_transit >= 0:
            level = {"sku": m.sku, "warehouse": m.warehouse, "updated_at": at}
            await self.session.execute(insert_unless_exists(stock_levels, tuple(level)), level)
        row = (
            await self.session.execute(
                _ADD_TO_LEVEL,
                {
                    "level_sku": m.sku,
                    "level_warehouse": m.warehouse,
                    "on_hand_delta": m.on_hand,
                    "reserved_delta": m.reserved,
                    "in_transit_delta": m.in_transit,
                    "level_updated_at": at,
                },
            )
        ).first()
        if row is None:
            raise LookupError(f"no stock level of sku {m.sku!r} at warehouse {m.warehouse!r}")
        await self.session.execute(
            _RECORD_MOVEMENT,
            {
                "sku": m.sku,
                "warehouse": m.warehouse,
                "kind": m.kind.value,
                "quantity": m.quantity,
                "on_hand_delta": m.on_hand,
                "reserved_delta": m.reserved,
                "in_transit_delta": m.in_transit,
                "reason": m.reason[:2000],
                "reference": m.reference,
                "actor": m.actor,
                "occurred_at": at,
            },
        )
        return Level(m.sku, m.warehouse, *row)

    async def apply_movements(self, movements: Sequence[Movement], *, at: datetime) -> list[Level]:
        """``apply_movement`` for many levels at once, in two statements (an import).

        Each movement must name another level, one that exists and that the caller
        has locked already (so the statement takes no lock in an order of its own).
        Returns the levels after, in the order of ``movements``; the movements get
        ids in that order too.
        """
        if not movements:
            return []
        keys = [(m.sku, m.warehouse) for m in movements]
        if len(set(keys)) != len(keys):
            raise ValueError("apply_movements takes one movement per level")
        columns = {
            "skus": [m.sku for m in movements],
            "warehouses": [m.warehouse for m in movements],
            "on_hand": [m.on_hand for m in movements],
            "reserved": [m.reserved for m in movements],
            "in_transit": [m.in_transit for m in movements],
        }
        deltas = (
            "unnest(CAST(:skus AS text[]), CAST(:warehouses AS text[]), CAST(:on_hand AS int[]),"
            " CAST(:reserved AS int[]), CAST(:in_transit AS int[]))"
        )
        rows = await self.session.execute(
            text(
                "UPDATE stock_levels s SET on_hand = s.on_hand + d.on_hand,"
                " reserved = s.reserved + d.reserved, in_transit = s.in_transit + d.in_transit,"
                f" updated_at = :at FROM {deltas} AS d(sku, warehouse, on_hand, reserved,"
                " in_transit) WHERE s.sku = d.sku AND s.warehouse = d.warehouse"
                " RETURNING s.sku, s.warehouse, s.on_hand, s.reserved, s.in_transit,"
                " s.safety_stock, s.low_stock"
            ),
            {**columns, "at": at},
        )
        after = {(r.sku, r.warehouse): Level(*r) for r in rows}
        missing = [k for k in keys if k not in after]
        if missing:
            sku, warehouse = missing[0]
            raise LookupError(f"no stock level of sku {sku!r} at warehouse {warehouse!r}")
        await self.session.execute(
            text(
                "INSERT INTO stock_movements (sku, warehouse, kind, quantity, on_hand_delta,"
                " reserved_delta, in_transit_delta, reason, reference, actor, occurred_at)"
                " SELECT d.sku, d.warehouse, d.kind, d.quantity, d.on_hand, d.reserved,"
                " d.in_transit, d.reason, d.reference, d.actor, :at FROM unnest("
                "   CAST(:skus AS text[]), CAST(:warehouses AS text[]), CAST(:kinds AS text[]),"
                "   CAST(:quantities AS int[]), CAST(:on_hand AS int[]), CAST(:reserved AS int[]),"
                "   CAST(:in_transit AS int[]), CAST(:reasons AS text[]),"
                "   CAST(:references AS text[]), CAST(:actors AS text[])"
                " ) WITH ORDINALITY AS d(sku, warehouse, kind, quantity, on_hand, reserved,"
                "   in_transit, reason, reference, actor, n) ORDER BY d.n"
            ),
            {
                **columns,
                "kinds": [m.kind.value for m in movements],
                "quantities": [m.quantity for m in movements],
                "reasons": [m.reason[:2000] for m in movements],
                "references": [m.reference for m in movements],
                "actors": [m.actor for m in movements],
                "at": at,
            },
        )
        return [after[k] for k in keys]

    async def set_safety_stocks(
        self, levels: Sequence[tuple[str, str, int]], *, at: datetime
    ) -> list[Level]:
        """Set the safety stock of many (sku, warehouse, units) levels, locked by the caller."""
        if not levels:
            return []
        rows = await self.session.execute(
            text(
                "UPDATE stock_levels s SET safety_stock = d.units, updated_at = :at FROM unnest("
                "   CAST(:skus AS text[]), CAST(:warehouses AS text[]), CAST(:units AS int[])"
                " ) AS d(sku, warehouse, units) WHERE s.sku = d.sku AND s.warehouse = d.warehouse"
                " RETURNING s.sku, s.warehouse, s.on_hand, s.reserved, s.in_transit,"
                " s.safety_stock, s.low_stock"
            ),
            {
                "skus": [sku for sku, _, _ in levels],
                "warehouses": [w for _, w, _ in levels],
                "units": [u for _, _, u in levels],
                "at": at,
            },
        )
        return [Level(*r) for r in rows]

    async def set_low_stock(self, sku: str, warehouse: str, *, low: bool) -> None:
        """Remember the last alert of a level, so that the next fires only on a crossing."""
        c = stock_levels.c
        await self.session.execute(
            update(stock_levels).where(c.sku == sku, c.warehouse == warehouse).values(low_stock=low)
        )

    async def discrepancies(self) -> list[Discrepancy]:
        """Every level whose on hand, reserved or in transit differs from its ledger's sum."""
        c, m = stock_levels.c, stock_movements.c
        sums = (
            select(
                m.sku,
                m.warehouse,
                func.sum(m.on_hand_delta).label("on_hand"),
                func.sum(m.reserved_delta).label("reserved"),
                func.sum(m.in_transit_delta).label("in_transit"),
            )
            .group_by(m.sku, m.warehouse)
            .subquery()
        )
        query = (
            select(
                c.sku,
                c.warehouse,
                c.on_hand,
                c.reserved,
                c.in_transit,
                func.coalesce(sums.c.on_hand, 0).label("ledger_on_hand"),
                func.coalesce(sums.c.reserved, 0).label("ledger_reserved"),
                func.coalesce(sums.c.in_transit, 0).label("ledger_in_transit"),
            )
            .outerjoin(sums, (sums.c.sku == c.sku) & (sums.c.warehouse == c.warehouse))
            .order_by(c.sku, c.warehouse)
        )
        found = []
        for r in (await self.session.execute(query)).mappings():
            for field in ("on_hand", "reserved", "in_transit"):
                if r[field] != r[f"ledger_{field}"]:
                    found.append(
                        Discrepancy(r["sku"], r["warehouse"], field, r[field], r[f"ledger_{field}"])
                    )
        return found

    async def create_levels(
        self, levels: Sequence[tuple[str, str, int]], *, at: datetime
    ) -> set[tuple[str, str]]:
        """Create the empty (sku, warehouse, safety stock) levels that do not exist yet.

        Returns the (sku, warehouse) of those created; they stay locked by this
        transaction. Created in (sku, warehouse) order, like every lock on levels.
        """
        if not levels:
            return set()
        ordered = sorted(levels)
        created = await self.session.execute(
            text(
                "INSERT INTO stock_levels (sku, warehouse, safety_stock, updated_at)"
                " SELECT k.sku, k.warehouse, k.safety_stock, :at FROM unnest("
                "   CAST(:skus AS text[]), CAST(:warehouses AS text[]), CAST(:safety AS int[])"
                " ) AS k(sku, warehouse, safety_stock) ORDER BY k.sku, k.warehouse"
                " ON CONFLICT DO NOTHING RETURNING sku, warehouse"
            ),
            {
                "skus": [sku for sku, _, _ in ordered],
                "warehouses": [w for _, w, _ in ordered],
                "safety": [s for _, _, s in ordered],
                "at": at,
            },
        )
        return {(r.sku, r.warehouse) for r in created}

    async def lock_levels_at_once(
        self, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], Level]:
        """``lock_levels`` in one statement, for many levels (an import).

        The rows are locked as the sorted result is read, in (sku, warehouse) order.
        """
        if not keys:
            return {}
        ordered = sorted(set(keys))
        rows = await self.session.execute(
            text(
                "SELECT s.sku, s.warehouse, s.on_hand, s.reserved, s.in_transit, s.safety_stock,"
                " s.low_stock FROM stock_levels s JOIN unnest("
                "   CAST(:skus AS text[]), CAST(:warehouses AS text[])"
                " ) AS k(sku, warehouse) ON k.sku = s.sku AND k.warehouse = s.warehouse"
                " ORDER BY s.sku, s.warehouse FOR UPDATE OF s"
            ),
            {"skus": [sku for sku, _ in ordered], "warehouses": [w for _, w in ordered]},
        )
        return {(r.sku, r.warehouse): Level(*r) for r in rows}

    async def moved_besides_openings(
        self, keys: Collection[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """The levels of ``keys`` that a movement other than opening stock has moved."""
        if not keys:
            return set()
        ordered = sorted(set(keys))
        rows = await self.session.execute(
            text(
                "SELECT k.sku, k.warehouse FROM unnest("
                "   CAST(:skus AS text[]), CAST(:warehouses AS text[])"
                " ) AS k(sku, warehouse) WHERE EXISTS (SELECT 1 FROM stock_movements m"
                "   WHERE m.sku = k.sku AND m.warehouse = k.warehouse AND m.kind <> 'opening')"
            ),
            {"skus": [sku for sku, _ in ordered], "warehouses": [w for _, w in ordered]},
        )
        return {(r.sku, r.warehouse) for r in rows}

    async def last_movement_id(self, sku: str, warehouse: str) -> int:
        """The id of the level's latest movement.

        Called under the level's row lock right after moving it: no other
        transaction can have written a movement of the level since, so it is ours.
        """
        m = stock_movements.c
        found = await self.session.scalar(
            select(func.max(m.id)).where(m.sku == sku, m.warehouse == warehouse)
        )
        if found is None:
            raise LookupError(f"no movement of sku {sku!r} at warehouse {warehouse!r}")
        return int(found)

    async def adjustment_of(self, adjustment_id: str) -> dict[str, Any] | None:
        """The adjustment recorded under a client's id, if any."""
        query = select(stock_adjustments).where(stock_adjustments.c.adjustment_id == adjustment_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else dict(row)

    async def record_adjustment(self, values: dict[str, Any]) -> bool:
        """Record an adjustment under its id; False if another transaction took the id first.

        ON CONFLICT waits for that transaction, so the answer is final.
        """
        inserted = await self.session.execute(
            pg_insert(stock_adjustments)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(stock_adjustments.c.adjustment_id)
        )
        return inserted.first() is not None
