"""Read models for the inventory HTTP API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.orm import (
    products,
    warehouses,
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
