"""Transfers between warehouses in PostgreSQL (in the caller's transaction).

A step locks the transfer's row first and only then the stock rows it moves, in
(sku, warehouse) order, as the stock repository's lock order says.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, insert, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.orm import transfer_lines, transfers
from orderly_inventory.domain.transfers import Transfer, TransferLine, TransferStatus


class TransferRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- transfers ----------------------------------------------------------------
    async def add(self, transfer: Transfer) -> bool:
        """Record a new transfer; False (and nothing written) if its id is taken already.

        A concurrent add of the same id waits for the first to commit, then finds it.
        """
        t = transfer
        added = (
            await self.session.execute(
                pg_insert(transfers)
                .values(
                    transfer_id=t.transfer_id,
                    from_warehouse=t.from_warehouse,
                    to_warehouse=t.to_warehouse,
                    status=t.status.value,
                    created_by=t.created_by,
                    created_at=t.created_at,
                    updated_at=t.updated_at,
                )
                .on_conflict_do_nothing()
                .returning(transfers.c.transfer_id)
            )
        ).first()
        if added is None:
            return False
        await self._insert_lines(t.transfer_id, t.lines)
        return True

    async def get(self, transfer_id: UUID, *, lock: bool = False) -> Transfer | None:
        """The transfer with its lines; ``lock`` holds its row until the transaction ends."""
        query = select(transfers).where(transfers.c.transfer_id == transfer_id)
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        return (await self._with_lines([row]))[0]

    async def replace_draft(self, transfer: Transfer) -> None:
        """Store a draft's new warehouses and lines."""
        t = transfer
        await self.session.execute(
            update(transfers)
            .where(transfers.c.transfer_id == t.transfer_id)
            .values(
                from_warehouse=t.from_warehouse,
                to_warehouse=t.to_warehouse,
                updated_at=t.updated_at,
            )
        )
        await self.session.execute(
            delete(transfer_lines).where(transfer_lines.c.transfer_id == t.transfer_id)
        )
        await self._insert_lines(t.transfer_id, t.lines)

    async def save_step(self, transfer: Transfer) -> None:
        """Store a transfer's status, who took each step and when, and its lines' counts."""
        t = transfer
        await self.session.execute(
            update(transfers)
            .where(transfers.c.transfer_id == t.transfer_id)
            .values(
                status=t.status.value,
                updated_at=t.updated_at,
                dispatched_by=t.dispatched_by,
                dispatched_at=t.dispatched_at,
                received_by=t.received_by,
                received_at=t.received_at,
                cancelled_by=t.cancelled_by,
                cancelled_at=t.cancelled_at,
            )
        )
        c = transfer_lines.c
        for line in t.lines:
            if line.received is not None:
                await self.session.execute(
                    update(transfer_lines)
                    .where(c.transfer_id == t.transfer_id, c.sku == line.sku)
                    .values(received=line.received, damaged=line.damaged)
                )

    async def page(
        self,
        *,
        limit: int,
        after: tuple[datetime, UUID] | None = None,
        status: TransferStatus | None = None,
        warehouse: str | None = None,
    ) -> list[Transfer]:
        """Up to ``limit`` transfers, newest first, after the (created_at, id) ``after``.

        ``warehouse`` matches either end of a transfer.
        """
        c = transfers.c
        query = select(transfers).order_by(c.created_at.desc(), c.transfer_id.desc()).limit(limit)
        if after is not None:
            at, transfer_id = after
            query = query.where(
                tuple_(c.created_at, c.transfer_id) < tuple_(literal(at), literal(transfer_id))
            )
        if status is not None:
            query = query.where(c.status == status.value)
        if warehouse is not None:
            query = query.where((c.from_warehouse == warehouse) | (c.to_warehouse == warehouse))
        rows = (await self.session.execute(query)).mappings().all()
        return await self._with_lines(rows)

    async def _insert_lines(self, transfer_id: UUID, lines: Iterable[TransferLine]) -> None:
        await self.session.execute(
            insert(transfer_lines),
            [
                {
                    "transfer_id": transfer_id,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "received": line.received,
                    "damaged": line.damaged,
                }
                for line in lines
            ],
        )

    async def _with_lines(self, rows: Iterable[Any]) -> list[Transfer]:
        rows = list(rows)
        if not rows:
            return []
        c = transfer_lines.c
        query = (
            select(transfer_lines)
            .where(c.transfer_id.in_([r["transfer_id"] for r in rows]))
            .order_by(c.transfer_id, c.sku)
        )
        lines: dict[UUID, list[TransferLine]] = {}
        for ln in (await self.session.execute(query)).mappings():
            lines.setdefault(ln["transfer_id"], []).append(
                TransferLine(ln["sku"], ln["quantity"], ln["received"], ln["damaged"])
            )
        return [
            Transfer(
                transfer_id=r["transfer_id"],
                from_warehouse=r["from_warehouse"],
                to_warehouse=r["to_warehouse"],
                status=TransferStatus(r["status"]),
                lines=tuple(lines.get(r["transfer_id"], ())),
                created_by=r["created_by"],
                created_at=r["created_at"],
                updated_at=r["updated_at"],
                dispatched_by=r["dispatched_by"],
                dispatched_at=r["dispatched_at"],
                received_by=r["received_by"],
                received_at=r["received_at"],
                cancelled_by=r["cancelled_by"],
                cancelled_at=r["cancelled_at"],
            )
            for r in rows
        ]
