"""Warehouses and products in PostgreSQL (SQLAlchemy Core, in the caller's transaction)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from orderly_inventory.adapters.orm import products, warehouses

_PRODUCT_FIELDS: Final = ("name", "description", "unit_cost", "currency", "default_safety_stock")


def _any_of(values: Collection[str]) -> Any:
    # One array parameter, however many values (an IN list would take one each).
    return any_(bindparam("values", sorted(values), type_=ARRAY(String)))


class CatalogueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def warehouse_codes(self) -> set[str]:
        """The codes of every warehouse."""
        return set((await self.session.execute(select(warehouses.c.code))).scalars())

    async def warehouse(self, code: str) -> dict[str, Any] | None:
        query = select(warehouses).where(warehouses.c.code == code)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else dict(row)

    async def add_warehouse(self, values: dict[str, Any]) -> bool:
        """Add a warehouse; False if one with its code exists already (it is left alone)."""
        added = await self.session.execute(
            pg_insert(warehouses)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(warehouses.c.code)
        )
        return added.first() is not None

    async def default_safety_stocks(self, skus: Collection[str]) -> dict[str, int]:
        """The default safety stock of each of ``skus`` that is a known product."""
        c = products.c
        query = select(c.sku, c.default_safety_stock).where(c.sku == _any_of(skus))
        return {sku: units for sku, units in await self.session.execute(query)}

    async def upsert_products(
        self, rows: Sequence[dict[str, Any]], *, at: datetime
    ) -> tuple[int, int]:
        """Insert or replace products; (created, updated). A product the same as given is
        not written at all, so importing the same file again changes nothing.

        One statement however many rows (arrays, not a parameter per value).
        """
        if not rows:
            return 0, 0
        fields = ", ".join(_PRODUCT_FIELDS)
        outcome = await self.session.execute(
            text(
                f"INSERT INTO products (sku, {fields}, created_at, updated_at)"
                f" SELECT d.sku, {', '.join(f'd.{f}' for f in _PRODUCT_FIELDS)}, :at, :at"
                " FROM unnest(CAST(:sku AS text[]), CAST(:name AS text[]),"
                "   CAST(:description AS text[]), CAST(:unit_cost AS int[]),"
                "   CAST(:currency AS text[]), CAST(:default_safety_stock AS int[])"
                f" ) AS d(sku, {fields}) ORDER BY d.sku"
                " ON CONFLICT (sku) DO UPDATE SET"
                f" {', '.join(f'{f} = excluded.{f}' for f in _PRODUCT_FIELDS)}, updated_at = :at"
                f" WHERE ({', '.join(f'products.{f}' for f in _PRODUCT_FIELDS)})"
                f" IS DISTINCT FROM ({', '.join(f'excluded.{f}' for f in _PRODUCT_FIELDS)})"
                " RETURNING xmax = 0 AS inserted"
            ),
            {
                **{f: [row[f] for row in rows] for f in ("sku", *_PRODUCT_FIELDS)},
                "at": at,
            },
        )
        inserted = [bool(r.inserted) for r in outcome]
        return sum(inserted), len(inserted) - sum(inserted)

    async def product(self, sku: str) -> dict[str, Any] | None:
        query = select(products).where(products.c.sku == sku)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else dict(row)
