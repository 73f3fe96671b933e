"""Warehouses and products in PostgreSQL (SQLAlchemy Core, in the caller's transaction)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import any_, bindparam, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from orderly_inventory.adapters.orm import products, warehouses

#: Products per INSERT statement: a statement takes at most 65535 parameters.
UPSERT_CHUNK: Final = 1000
_PRODUCT_FIELDS: Final = ("name", "description", "unit_cost", "currency", "default_safety_stock")


def _any_of(values: Collection[str]) -> Any:
    # One array parameter, however many values (an IN list would take one each).
    return any_(bindparam("values", sorted(values), type_=ARRAY(String)))


class CatalogueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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

    async def existing_warehouses(self, codes: Collection[str]) -> set[str]:
        query = select(warehouses.c.code).where(warehouses.c.code == _any_of(codes))
        return set((await self.session.scalars(query)).all())

    async def default_safety_stocks(self, skus: Collection[str]) -> dict[str, int]:
        """The default safety stock of each of ``skus`` that is a known product."""
        c = products.c
        query = select(c.sku, c.default_safety_stock).where(c.sku == _any_of(skus))
        return {sku: units for sku, units in await self.session.execute(query)}

    async def upsert_products(
        self, rows: Sequence[dict[str, Any]], *, at: datetime
    ) -> tuple[int, int]:
        """Insert or replace products; (created, updated). A product the same as given is
        not written at all, so importing the same file again changes nothing."""
        created = updated = 0
        c = products.c
        for start in range(0, len(rows), UPSERT_CHUNK):
            chunk = [
                {**row, "created_at": at, "updated_at": at}
                for row in rows[start : start + UPSERT_CHUNK]
            ]
            new = pg_insert(products).values(chunk)
            ours = tuple_(*(c[f] for f in _PRODUCT_FIELDS))
            theirs = tuple_(*(new.excluded[f] for f in _PRODUCT_FIELDS))
            upsert: Any = new.on_conflict_do_update(
                index_elements=[c.sku],
                set_={**{f: new.excluded[f] for f in _PRODUCT_FIELDS}, "updated_at": at},
                where=ours.is_distinct_from(theirs),
            ).returning(literal_column("xmax = 0").label("inserted"))
            for (inserted,) in await self.session.execute(upsert):
                if inserted:
                    created += 1
                else:
                    updated += 1
        return created, updated

    async def product(self, sku: str) -> dict[str, Any] | None:
        query = select(products).where(products.c.sku == sku)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else dict(row)
