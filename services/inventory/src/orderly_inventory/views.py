"""Read models for the inventory HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Select, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from orderly_inventory.adapters.orm import (
    products,
    shipment_tracking,
    stock_levels,
    stock_movements,
    warehouses,
)
from orderly_inventory.adapters.repository import InventoryRepository
from orderly_inventory.domain.ledger import MovementKind
from orderly_inventory.domain.shipments import ShipmentStatus, lines_of, overall_status


class WarehouseStockRead(BaseModel):
    """Stock of one SKU in one warehouse."""

    warehouse: str
    on_hand: int
    reserved: int
    available: int
    in_transit: int = Field(description="dispatched by a transfer towards it, not yet received")


class StockRead(BaseModel):
    """Stock of one SKU: per warehouse, and in total."""

    sku: str
    warehouses: list[WarehouseStockRead]
    on_hand: int
    reserved: int
    available: int
    in_transit: int


class TrackingEventRead(BaseModel):
    """One update the carrier reported for a parcel."""

    status: str
    occurred_at: datetime
    detail: str | None


class ParcelLineRead(BaseModel):
    sku: str
    quantity: int


class ParcelRead(BaseModel):
    """One parcel of an order: what left one warehouse with one carrier booking."""

    shipment_id: UUID
    warehouse: str
    carrier: str
    tracking_number: str
    status: str
    shipped_at: datetime
    expected_delivery_at: datetime | None
    status_at: datetime | None
    status_detail: str | None
    delivered_at: datetime | None
    lines: list[ParcelLineRead]
    tracking: list[TrackingEventRead]


class ShipmentRead(BaseModel):
    """An order's shipment: its parcels (one per warehouse) and where they are.

    ``shipment_id``, ``carrier`` and ``tracking_number`` name the first parcel, as
    OrderShipped does. ``status`` is the order's: ``delivered`` once every parcel is,
    ``failed`` if any parcel failed, otherwise the least advanced parcel's status;
    ``delivered_at`` is when its last parcel was delivered.
    """

    order_id: UUID
    shipment_id: UUID
    carrier: str
    tracking_number: str
    status: str
    shipped_at: datetime
    delivered_at: datetime | None
    parcels: list[ParcelRead]


async def stock_of(session: AsyncSession, sku: str) -> StockRead | None:
    rows = (
        (
            await session.execute(
                select(stock_levels)
                .where(stock_levels.c.sku == sku)
                .order_by(stock_levels.c.warehouse)
            )
        )
        .mappings()
        .all()
    )
    if not rows:
        return None
    per = [
        WarehouseStockRead(
            warehouse=r["warehouse"],
            on_hand=r["on_hand"],
            reserved=r["reserved"],
            available=r["on_hand"] - r["reserved"],
            in_transit=r["in_transit"],
        )
        for r in rows
    ]
    return StockRead(
        sku=sku,
        on_hand=sum(w.on_hand for w in per),
        reserved=sum(w.reserved for w in per),
        available=sum(w.available for w in per),
        in_transit=sum(w.in_transit for w in per),
        warehouses=per,
    )


async def shipment_of(session: AsyncSession, order_id: UUID) -> ShipmentRead | None:
    repo = InventoryRepository(session)
    parcels = await repo.shipments_of(order_id)
    if not parcels:
        return None
    lines = await repo.shipped_lines(order_id)
    t = shipment_tracking.c
    history: dict[UUID, list[TrackingEventRead]] = {}
    query = (
        select(t.shipment_id, t.status, t.occurred_at, t.detail)
        .where(t.shipment_id.in_([p.shipment_id for p in parcels]))
        .order_by(t.id)
    )
    for row in await session.execute(query):
        history.setdefault(row.shipment_id, []).append(
            TrackingEventRead(status=row.status, occurred_at=row.occurred_at, detail=row.detail)
        )
    first = parcels[0]
    delivered = all(p.status is ShipmentStatus.DELIVERED for p in parcels)
    return ShipmentRead(
        order_id=order_id,
        shipment_id=first.shipment_id,
        carrier=first.carrier,
        tracking_number=first.tracking_number,
        status=overall_status(parcels).value,
        shipped_at=first.shipped_at,
        delivered_at=(
            max((p.delivered_at for p in parcels if p.delivered_at), default=None)
            if delivered
            else None
        ),
        parcels=[
            ParcelRead(
                shipment_id=p.shipment_id,
                warehouse=p.warehouse,
                carrier=p.carrier,
                tracking_number=p.tracking_number,
                status=p.status.value,
                shipped_at=p.shipped_at,
                expected_delivery_at=p.expected_delivery_at,
                status_at=p.status_at,
                status_detail=p.status_detail,
                delivered_at=p.delivered_at,
                lines=[
                    ParcelLineRead(sku=line.sku, quantity=line.quantity)
                    for line in lines_of(p, lines)
                ],
                tracking=history.get(p.shipment_id, []),
            )
            for p in parcels
        ],
    )


# -- warehouse staff and ERP connectors ---------------------------------------------------
class WarehouseRead(BaseModel):
    """A warehouse; allocation prefers a lower priority."""

    code: str
    name: str
    region: str | None
    priority: int


class ProductRead(BaseModel):
    """A product as the ERP import last described it."""

    sku: str
    name: str
    description: str | None
    unit_cost: int | None = Field(description="minor units of currency")
    currency: str | None
    default_safety_stock: int
    created_at: datetime
    updated_at: datetime


class LevelRead(BaseModel):
    """Stock of one SKU in one warehouse; low_stock when available is below the safety stock."""

    sku: str
    warehouse: str
    on_hand: int
    reserved: int
    available: int
    in_transit: int
    safety_stock: int
    low_stock: bool


class MovementRead(BaseModel):
    """One ledger movement: signed deltas, why, what caused it and who."""

    id: int
    occurred_at: datetime
    sku: str
    warehouse: str
    kind: str
    quantity: int
    on_hand_delta: int
    reserved_delta: int
    in_transit_delta: int
    reason: str
    reference: str | None
    actor: str

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, moment: datetime) -> datetime:
        return moment.astimezone(UTC)


#: The fields of a movement, in the order of the export's columns.
MOVEMENT_FIELDS = tuple(MovementRead.model_fields)


@dataclass(frozen=True)
class MovementFilter:
    sku: str | None = None
    warehouse: str | None = None
    kind: MovementKind | None = None
    reference: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


async def list_warehouses(session: AsyncSession) -> list[WarehouseRead]:
    query = select(warehouses).order_by(warehouses.c.priority, warehouses.c.code)
    rows = (await session.execute(query)).mappings()
    return [WarehouseRead.model_validate(dict(r)) for r in rows]


async def product_of(session: AsyncSession, sku: str) -> ProductRead | None:
    row = (await session.execute(select(products).where(products.c.sku == sku))).mappings().first()
    return None if row is None else ProductRead.model_validate(dict(row))


async def products_page(
    session: AsyncSession, *, after: str | None, limit: int
) -> tuple[list[ProductRead], str | None]:
    """Up to ``limit`` products in SKU order after ``after``, and the last SKU if more follow."""
    query = select(products).order_by(products.c.sku).limit(limit + 1)
    if after is not None:
        query = query.where(products.c.sku > after)
    rows = [ProductRead.model_validate(dict(r)) for r in (await session.execute(query)).mappings()]
    more = len(rows) > limit
    return rows[:limit], rows[limit - 1].sku if more else None


async def levels_page(
    session: AsyncSession,
    *,
    warehouse: str | None,
    sku_prefix: str | None,
    low_only: bool,
    after: tuple[str, str] | None,
    limit: int,
) -> tuple[list[LevelRead], tuple[str, str] | None]:
    """Up to ``limit`` levels in (sku, warehouse) order after ``after``; the last key if more."""
    c = stock_levels.c
    query = select(stock_levels).order_by(c.sku, c.warehouse).limit(limit + 1)
    if warehouse is not None:
        query = query.where(c.warehouse == warehouse)
    if sku_prefix:
        query = query.where(c.sku.startswith(sku_prefix, autoescape=True))
    if low_only:
        query = query.where(c.on_hand - c.reserved < c.safety_stock)
    if after is not None:
        last_sku, last_warehouse = after
        query = query.where(
            tuple_(c.sku, c.warehouse) > tuple_(literal(last_sku), literal(last_warehouse))
        )
    rows = [_level(r) for r in (await session.execute(query)).mappings()]
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return rows[:limit], (last.sku, last.warehouse) if last else None


def _level(row: Any) -> LevelRead:
    available = row["on_hand"] - row["reserved"]
    return LevelRead(
        sku=row["sku"],
        warehouse=row["warehouse"],
        on_hand=row["on_hand"],
        reserved=row["reserved"],
        available=available,
        in_transit=row["in_transit"],
        safety_stock=row["safety_stock"],
        low_stock=available < row["safety_stock"],
    )


def _movements(where: MovementFilter) -> Select[Any]:
    m = stock_movements.c
    query = select(stock_movements).order_by(m.id)
    if where.sku is not None:
        query = query.where(m.sku == where.sku)
    if where.warehouse is not None:
        query = query.where(m.warehouse == where.warehouse)
    if where.kind is not None:
        query = query.where(m.kind == where.kind.value)
    if where.reference is not None:
        query = query.where(m.reference == where.reference)
    if where.since is not None:
        query = query.where(m.occurred_at >= where.since)
    if where.until is not None:
        query = query.where(m.occurred_at < where.until)
    return query


async def movements_page(
    session: AsyncSession, where: MovementFilter, *, after: int | None, limit: int
) -> tuple[list[MovementRead], int | None]:
    """Up to ``limit`` movements in id order after ``after``; the last id if more follow."""
    query = _movements(where).limit(limit + 1)
    if after is not None:
        query = query.where(stock_movements.c.id > after)
    rows = [MovementRead.model_validate(dict(r)) for r in (await session.execute(query)).mappings()]
    more = len(rows) > limit
    return rows[:limit], rows[limit - 1].id if more else None


async def stream_movements(
    engine: AsyncEngine, where: MovementFilter, *, batch: int = 1000
) -> AsyncIterator[MovementRead]:
    """Every movement ``where`` selects, in id order, read through one server-side cursor.

    One statement, so one snapshot: a movement committed meanwhile is either wholly
    in the export or not at all, and none is skipped between batches.
    """
    async with engine.connect() as conn, conn.begin():
        result = await conn.stream(_movements(where).execution_options(yield_per=batch))
        async for row in result.mappings():
            yield MovementRead.model_validate(dict(row))
