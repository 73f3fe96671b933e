"""Read models for the inventory HTTP API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.orm import (
    stock_levels,
)


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
