"""Stock-takes in PostgreSQL (SQLAlchemy Core, in the caller's transaction).

Lock order (the repository's, extended): opening a stock-take locks its warehouse
row (FOR NO KEY UPDATE, which serialises openings of one warehouse without
blocking writers that only reference the warehouse); recording a count shares
the stock-take row's lock (FOR SHARE: counters count at once) and locks the
line; approving and cancelling lock the stock-take row (FOR UPDATE: waits for
counts in flight, and counts wait for them), then approval locks the stock rows
it adjusts in (sku, warehouse) order, like every other writer of stock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Select,
    bindparam,
    distinct,
    func,
    insert,
    literal,
    select,
    tuple_,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.orm import (
    products,
    replacement_reservations,
    replacements,
    reservations,
    stock_levels,
    stock_take_counts,
    stock_take_lines,
    stock_takes,
    warehouses,
)
from orderly_inventory.domain.reservations import ReservationStatus
from orderly_inventory.domain.stocktakes import (
    Count,
    Line,
    OpenStockTake,
    Scope,
    Shelf,
    StockTake,
    StockTakeStatus,
)


class Lock(Enum):
    NONE = "none"
    SHARE = "share"  # FOR SHARE: counts recorded at once, but not during approval
    UPDATE = "update"  # FOR UPDATE: approval and cancellation, alone


@dataclass(frozen=True)
class Summary:
    """A stock-take without its lines, with how many lines it has and how many are counted."""

    stock_take: StockTake
    lines: int
    counted: int


@dataclass(frozen=True)
class RecordedCount:
    """A count as it was recorded, found by its id (a retried request)."""

    stock_take_id: UUID
    sku: str
    count: Count


class StockTakeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- opening ----------------------------------------------------------------
    async def lock_warehouse(self, code: str) -> bool:
        """Serialise the openings of stock-takes of warehouse ``code``; False if it is unknown."""
        query = (
            select(warehouses.c.code)
            .where(warehouses.c.code == code)
            .with_for_update(key_share=True)
        )
        return (await self.session.execute(query)).first() is not None

    async def warehouse_codes(self) -> list[str]:
        query = select(warehouses.c.code).order_by(warehouses.c.code)
        return list((await self.session.execute(query)).scalars())

    async def open_in(self, warehouse: str) -> list[OpenStockTake]:
        """The warehouse's open stock-takes, each with its lines' SKUs."""
        t, ln = stock_takes.c, stock_take_lines.c
        query = (
            select(t.id, t.scope, ln.sku)
            .outerjoin(stock_take_lines, ln.stock_take_id == t.id)
            .where(t.warehouse == warehouse, t.status == StockTakeStatus.OPEN.value)
            .order_by(t.opened_at, t.id)
        )
        found: dict[UUID, tuple[Scope, set[str]]] = {}
        for r in await self.session.execute(query):
            _, skus = found.setdefault(r.id, (Scope(r.scope), set()))
            if r.sku is not None:
                skus.add(r.sku)
        return [OpenStockTake(i, scope, frozenset(skus)) for i, (scope, skus) in found.items()]

    async def known_skus(self, skus: Collection[str]) -> set[str]:
        """Those of ``skus`` that the catalogue or some warehouse's stock knows."""
        wanted = list(skus)
        query = union(
            select(products.c.sku).where(products.c.sku.in_(wanted)),
            select(stock_levels.c.sku).where(stock_levels.c.sku.in_(wanted)),
        )
        return set((await self.session.execute(query)).scalars())

    async def on_hand(self, warehouse: str, skus: Collection[str] | None = None) -> dict[str, int]:
        """On hand per SKU in ``warehouse``: of ``skus``, or of every SKU it has a level for."""
        c = stock_levels.c
        query = select(c.sku, c.on_hand).where(c.warehouse == warehouse)
        if skus is not None:
            query = query.where(c.sku.in_(list(skus)))
        return {sku: on_hand for sku, on_hand in await self.session.execute(query)}

    async def add(self, stock_take: StockTake) -> bool:
        """Record a new stock-take with its lines; False if its id was taken meanwhile."""
        s = stock_take
        inserted = await self.session.execute(
            pg_insert(stock_takes)
            .values(
                id=s.id,
                warehouse=s.warehouse,
                status=s.status.value,
                scope=s.scope.value,
                note=s.note,
                opened_by=s.opened_by,
                opened_at=s.opened_at,
            )
            .on_conflict_do_nothing()
            .returning(stock_takes.c.id)
        )
        if inserted.first() is None:
            return False
        if s.lines:
            await self.session.execute(
                insert(stock_take_lines),
                [
                    {"stock_take_id": s.id, "sku": ln.sku, "on_hand_at_open": ln.on_hand_at_open}
                    for ln in s.lines
                ],
            )
        return True

    # -- reading ----------------------------------------------------------------
    async def get(
        self, stock_take_id: UUID, *, lock: Lock = Lock.NONE, only_sku: str | None = None
    ) -> StockTake | None:
        """A stock-take with its lines (all, or only ``only_sku``'s) and their counts."""
        query = select(stock_takes).where(stock_takes.c.id == stock_take_id)
        if lock is Lock.SHARE:
            query = query.with_for_update(read=True)
        elif lock is Lock.UPDATE:
            query = query.with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        ln, ct = stock_take_lines.c, stock_take_counts.c
        lines_query = (
            select(stock_take_lines).where(ln.stock_take_id == stock_take_id).order_by(ln.sku)
        )
        counts_query = select(stock_take_counts).where(ct.stock_take_id == stock_take_id)
        if only_sku is not None:
            lines_query = lines_query.where(ln.sku == only_sku)
            counts_query = counts_query.where(ct.sku == only_sku)
        counts: dict[str, list[Count]] = {}
        for c in (await self.session.execute(counts_query.order_by(ct.id))).mappings():
            counts.setdefault(c["sku"], []).append(_to_count(c))
        lines = tuple(
            Line(
                sku=r["sku"],
                on_hand_at_open=r["on_hand_at_open"],
                counts=tuple(counts.get(r["sku"], ())),
                adjustment=r["adjustment"],
            )
            for r in (await self.session.execute(lines_query)).mappings()
        )
        return _to_stock_take(row, lines)

    async def page(
        self,
        *,
        warehouse: str | None,
        status: StockTakeStatus | None,
        limit: int,
        before: tuple[datetime, UUID] | None,
    ) -> list[Summary]:
        """Stock-takes newest first, after the (opened_at, id) position ``before`` if given."""
        t, ln, ct = stock_takes.c, stock_take_lines.c, stock_take_counts.c
        line_count = (
            select(func.count())
            .select_from(stock_take_lines)
            .where(ln.stock_take_id == t.id)
            .scalar_subquery()
        )
        counted = (
            select(func.count(distinct(ct.sku))).where(ct.stock_take_id == t.id).scalar_subquery()
        )
        query: Select[Any] = select(
            stock_takes, line_count.label("line_count"), counted.label("counted_count")
        )
        if warehouse is not None:
            query = query.where(t.warehouse == warehouse)
        if status is not None:
            query = query.where(t.status == status.value)
        if before is not None:
            opened_at, last_id = before
            position = tuple_(literal(opened_at, t.opened_at.type), literal(last_id, t.id.type))
            query = query.where(tuple_(t.opened_at, t.id) < position)
        query = query.order_by(t.opened_at.desc(), t.id.desc()).limit(limit)
        return [
            Summary(_to_stock_take(r, ()), r["line_count"], r["counted_count"])
            for r in (await self.session.execute(query)).mappings()
        ]

    # -- counting ---------------------------------------------------------------
    async def recorded_count(self, count_id: UUID) -> RecordedCount | None:
        query = select(stock_take_counts).where(stock_take_counts.c.count_id == count_id)
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        return RecordedCount(row["stock_take_id"], row["sku"], _to_count(row))

    async def lock_line(self, stock_take_id: UUID, sku: str) -> None:
        """Serialise the counts of one line, so that "latest" means the last one recorded."""
        ln = stock_take_lines.c
        await self.session.execute(
            select(ln.sku).where(ln.stock_take_id == stock_take_id, ln.sku == sku).with_for_update()
        )

    async def add_line(self, stock_take_id: UUID, sku: str, *, on_hand_at_open: int) -> None:
        """Add a line, unless a counter who found the same SKU added it a moment ago."""
        await self.session.execute(
            pg_insert(stock_take_lines)
            .values(stock_take_id=stock_take_id, sku=sku, on_hand_at_open=on_hand_at_open)
            .on_conflict_do_nothing()
        )

    async def add_count(self, stock_take_id: UUID, sku: str, count: Count) -> bool:
        """Record a count; False if its count id was recorded meanwhile (a concurrent retry)."""
        inserted = await self.session.execute(
            pg_insert(stock_take_counts)
            .values(
                count_id=count.count_id,
                stock_take_id=stock_take_id,
                sku=sku,
                counted_by=count.counted_by,
                quantity=count.quantity,
                system_on_hand=count.system_on_hand,
                counted_at=count.counted_at,
            )
            .on_conflict_do_nothing(index_elements=[stock_take_counts.c.count_id])
            .returning(stock_take_counts.c.id)
        )
        return inserted.first() is not None

    # -- approving and cancelling ----------------------------------------------
    async def lock_shelves(self, warehouse: str, skus: Iterable[str]) -> dict[str, Shelf]:
        """Lock the stock rows of ``skus`` in ``warehouse`` in SKU order; what each holds."""
        c = stock_levels.c
        query = (
            select(c.sku, c.on_hand, c.reserved)
            .where(c.warehouse == warehouse, c.sku.in_(sorted(set(skus))))
            .order_by(c.sku, c.warehouse)
            .with_for_update()
        )
        rows = await self.session.execute(query)
        return {r.sku: Shelf(r.sku, r.on_hand, r.reserved) for r in rows}

    async def holders(self, warehouse: str, skus: Iterable[str]) -> dict[str, list[str]]:
        """The orders holding reserved stock of each of ``skus`` in ``warehouse``: their own,
        or a replacement's being picked."""
        skus = list(skus)
        c, rr, rp = reservations.c, replacement_reservations.c, replacements.c
        held = select(c.sku, c.order_id, c.created_at.label("since")).where(
            c.warehouse == warehouse,
            c.sku.in_(skus),
            c.status == ReservationStatus.RESERVED.value,
        )
        held_for_replacements = (
            select(rr.sku, rp.order_id, rp.requested_at.label("since"))
            .join(replacements, rp.replacement_id == rr.replacement_id)
            .where(rr.warehouse == warehouse, rr.sku.in_(skus), rr.status == "reserved")
        )
        every = union_all(held, held_for_replacements).subquery()
        query = select(every.c.sku, every.c.order_id).order_by(
            every.c.sku, every.c.since, every.c.order_id
        )
        found: dict[str, list[str]] = {}
        for sku, order_id in await self.session.execute(query):
            if str(order_id) not in found.get(sku, []):
                found.setdefault(sku, []).append(str(order_id))
        return found

    async def mark_approved(
        self, stock_take_id: UUID, *, by: str, at: datetime, adjustments: Mapping[str, int]
    ) -> None:
        """Approved by ``by``; ``adjustments``: what was applied to each counted line (0 too)."""
        await self.session.execute(
            update(stock_takes)
            .where(stock_takes.c.id == stock_take_id)
            .values(status=StockTakeStatus.APPROVED.value, approved_by=by, approved_at=at)
        )
        if not adjustments:
            return
        ln = stock_take_lines.c
        await self.session.execute(
            update(stock_take_lines)
            .where(ln.stock_take_id == stock_take_id, ln.sku == bindparam("line_sku"))
            .values(adjustment=bindparam("units")),
            [{"line_sku": sku, "units": units} for sku, units in sorted(adjustments.items())],
        )

    async def mark_cancelled(
        self, stock_take_id: UUID, *, by: str, at: datetime, reason: str | None
    ) -> None:
        await self.session.execute(
            update(stock_takes)
            .where(stock_takes.c.id == stock_take_id)
            .values(
                status=StockTakeStatus.CANCELLED.value,
                cancelled_by=by,
                cancelled_at=at,
                cancel_reason=reason,
            )
        )


def _to_count(row: Any) -> Count:
    return Count(
        count_id=row["count_id"],
        counted_by=row["counted_by"],
        quantity=row["quantity"],
        system_on_hand=row["system_on_hand"],
        counted_at=row["counted_at"],
    )


def _to_stock_take(row: Any, lines: tuple[Line, ...]) -> StockTake:
    return StockTake(
        id=row["id"],
        warehouse=row["warehouse"],
        scope=Scope(row["scope"]),
        status=StockTakeStatus(row["status"]),
        opened_by=row["opened_by"],
        opened_at=row["opened_at"],
        note=row["note"],
        approved_by=row["approved_by"],
        approved_at=row["approved_at"],
        cancelled_by=row["cancelled_by"],
        cancelled_at=row["cancelled_at"],
        cancel_reason=row["cancel_reason"],
        lines=lines,
    )
