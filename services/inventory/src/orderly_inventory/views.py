"""Read models for the inventory HTTP API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.orm import shipments, stock_levels


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


class ShipmentRead(BaseModel):
    """An order's shipment as the carrier knows it."""

    shipment_id: UUID
    order_id: UUID
    carrier: str
    tracking_number: str
    status: str
    shipped_at: datetime
    deliver_after: datetime
    delivered_at: datetime | None


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
    row = (
        (await session.execute(select(shipments).where(shipments.c.order_id == order_id)))
        .mappings()
        .first()
    )
    return ShipmentRead.model_validate(dict(row)) if row else None
