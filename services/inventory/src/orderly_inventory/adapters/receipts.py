"""Goods receipts and return restocks in PostgreSQL (in the caller's transaction).

Each is recorded under its key (purchase order and receipt id; return id) by an
insert that does nothing if the key is taken: the row is the lock a concurrent
retry waits for, taken before any stock row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.orm import goods_receipts, products, return_restocks
from orderly_inventory.domain.receipts import (
    Condition,
    GoodsReceipt,
    ReceiptLine,
    ReturnedLine,
    ReturnRestock,
)


class ReceiptRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- goods receipts -----------------------------------------------------------
    async def add_receipt(self, receipt: GoodsReceipt) -> bool:
        """Record a receipt; False (nothing written) if its purchase order and note are taken.

        A concurrent receipt under the same key waits for the first to commit, then finds it.
        """
        r = receipt
        added = (
            await self.session.execute(
                pg_insert(goods_receipts)
                .values(
                    goods_receipt_id=r.goods_receipt_id,
                    purchase_order=r.purchase_order,
                    receipt_id=r.receipt_id,
                    warehouse=r.warehouse,
                    lines=[{"sku": ln.sku, "quantity": ln.quantity} for ln in r.lines],
                    new_products=list(r.new_products),
                    received_by=r.received_by,
                    received_at=r.received_at,
                )
                .on_conflict_do_nothing()
                .returning(goods_receipts.c.goods_receipt_id)
            )
        ).first()
        return added is not None

    async def set_new_products(self, goods_receipt_id: UUID, skus: Iterable[str]) -> None:
        await self.session.execute(
            update(goods_receipts)
            .where(goods_receipts.c.goods_receipt_id == goods_receipt_id)
            .values(new_products=list(skus))
        )

    async def receipt(
        self, *, goods_receipt_id: UUID | None = None, key: tuple[str, str] | None = None
    ) -> GoodsReceipt | None:
        """A receipt by its id, or by its (purchase order, receipt id) key."""
        c = goods_receipts.c
        query = select(goods_receipts)
        if goods_receipt_id is not None:
            query = query.where(c.goods_receipt_id == goods_receipt_id)
        if key is not None:
            query = query.where(c.purchase_order == key[0], c.receipt_id == key[1])
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        return GoodsReceipt(
            goods_receipt_id=row["goods_receipt_id"],
            purchase_order=row["purchase_order"],
            receipt_id=row["receipt_id"],
            warehouse=row["warehouse"],
            lines=tuple(ReceiptLine(ln["sku"], ln["quantity"]) for ln in row["lines"]),
            received_by=row["received_by"],
            received_at=row["received_at"],
            new_products=tuple(row["new_products"]),
        )

    async def add_missing_products(self, skus: Iterable[str], *, at: datetime) -> list[str]:
        """Add the SKUs the products table does not know, named after themselves; those added."""
        wanted = sorted(set(skus))
        if not wanted:
            return []
        added = await self.session.execute(
            pg_insert(products)
            .values([{"sku": s, "name": s, "created_at": at, "updated_at": at} for s in wanted])
            .on_conflict_do_nothing()
            .returning(products.c.sku)
        )
        return sorted(added.scalars())

    # -- return restocks ----------------------------------------------------------
    async def add_restock(self, restock: ReturnRestock) -> bool:
        """Record a restocked return; False (nothing written) if the return was restocked."""
        r = restock
        added = (
            await self.session.execute(
                pg_insert(return_restocks)
                .values(
                    return_id=r.return_id,
                    order_id=r.order_id,
                    warehouse=r.warehouse,
                    lines=[
                        {"sku": ln.sku, "quantity": ln.quantity, "condition": ln.condition.value}
                        for ln in r.lines
                    ],
                    restocked_by=r.restocked_by,
                    restocked_at=r.restocked_at,
                )
                .on_conflict_do_nothing()
                .returning(return_restocks.c.return_id)
            )
        ).first()
        return added is not None

    async def restock(self, return_id: UUID) -> ReturnRestock | None:
        query = select(return_restocks).where(return_restocks.c.return_id == return_id)
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        return ReturnRestock(
            return_id=row["return_id"],
            order_id=row["order_id"],
            warehouse=row["warehouse"],
            lines=tuple(
                ReturnedLine(ln["sku"], ln["quantity"], Condition(ln["condition"]))
                for ln in row["lines"]
            ),
            restocked_by=row["restocked_by"],
            restocked_at=row["restocked_at"],
        )
