"""Reservations and the order's lock in PostgreSQL, in the caller's transaction.

The order's advisory lock comes first in every transaction that takes it: see the
lock order in ``adapters``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.orm import (
    reservation_requests,
    reservations,
)
from orderly_inventory.domain.allocation import Pick
from orderly_inventory.domain.reservations import (
    Hold,
    RequestOutcome,
    Reservation,
    ReservationRequest,
    ReservationStatus,
)

_ORDER_LOCK_KEY = "hashtextextended(:key, 0)"


def _order_lock_key(order_id: UUID) -> dict[str, str]:
    return {"key": f"inventory:{order_id}"}


def _to_reservation(row: Any) -> Reservation:
    return Reservation(
        sku=row["sku"],
        warehouse=row["warehouse"],
        quantity=row["quantity"],
        status=ReservationStatus(row["status"]),
    )


class ReservationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_order(self, order_id: UUID) -> None:
        """Serialise this transaction with every other stock command of the order.

        An advisory lock, because an order's first command has no row to lock yet;
        it is released when the transaction ends.
        """
        await self.session.execute(
            text(f"SELECT pg_advisory_xact_lock({_ORDER_LOCK_KEY})"), _order_lock_key(order_id)
        )

    async def try_lock_order(self, order_id: UUID) -> bool:
        """Take the order's lock (see ``lock_order``) if it is free; False if a command holds it.

        For a transaction that already holds reservation rows: waiting here could
        deadlock with a command that holds the order's lock and waits for those rows.
        """
        result = await self.session.execute(
            text(f"SELECT pg_try_advisory_xact_lock({_ORDER_LOCK_KEY})"), _order_lock_key(order_id)
        )
        return bool(result.scalar_one())

    async def request_of(self, order_id: UUID) -> ReservationRequest | None:
        """How the order's ReserveStock was answered, if it was."""
        query = select(reservation_requests).where(reservation_requests.c.order_id == order_id)
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        return ReservationRequest(
            outcome=RequestOutcome(row["outcome"]),
            reason=row["reason"],
            short_skus=list(row["short_skus"] or []),
        )

    async def record_request(self, order_id: UUID, request: ReservationRequest) -> None:
        await self.session.execute(
            insert(reservation_requests).values(
                order_id=order_id,
                outcome=request.outcome.value,
                reason=request.reason,
                short_skus=request.short_skus,
            )
        )

    async def add_reservations(
        self, order_id: UUID, picks: Sequence[Pick], *, at: datetime, expires_at: datetime
    ) -> None:
        await self.session.execute(
            insert(reservations),
            [
                {
                    "order_id": order_id,
                    "sku": p.sku,
                    "warehouse": p.warehouse,
                    "quantity": p.quantity,
                    "status": ReservationStatus.RESERVED.value,
                    "created_at": at,
                    "updated_at": at,
                    "expires_at": expires_at,
                }
                for p in picks
            ],
        )

    async def reservations_of(
        self, order_id: UUID, *, status: ReservationStatus | None = None, lock: bool = False
    ) -> list[Reservation]:
        """The order's reservations in (sku, warehouse) order, optionally locked."""
        query = (
            select(reservations)
            .where(reservations.c.order_id == order_id)
            .order_by(reservations.c.sku, reservations.c.warehouse)
        )
        if status is not None:
            query = query.where(reservations.c.status == status.value)
        if lock:
            query = query.with_for_update()
        return [_to_reservation(r) for r in (await self.session.execute(query)).mappings()]

    async def change_reservation_status(
        self, order_id: UUID, *, old: ReservationStatus, new: ReservationStatus, at: datetime
    ) -> None:
        await self.session.execute(
            update(reservations)
            .where(reservations.c.order_id == order_id, reservations.c.status == old.value)
            .values(status=new.value, updated_at=at)
        )

    async def lock_expired_orders(self, *, now: datetime, limit: int) -> list[UUID]:
        """Orders holding RESERVED rows past their deadline, soonest first (up to ``limit`` rows).

        The claimed rows stay locked (SKIP LOCKED: rows another transaction holds are
        passed over, so several replicas can scan at once).
        """
        c = reservations.c
        query = (
            select(c.order_id)
            .where(c.status == ReservationStatus.RESERVED.value, c.expires_at <= now)
            .order_by(c.expires_at, c.order_id, c.sku, c.warehouse)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = (await self.session.execute(query)).scalars()
        return list(dict.fromkeys(claimed))

    async def lock_whole_hold(self, order_id: UUID) -> Hold | None:
        """Lock every RESERVED row of the order without waiting; None if any is held elsewhere.

        An order's stock expires all at once or not at all, so a hold that another
        transaction partly holds (another replica's claim) is left for a later scan.
        """
        c = reservations.c
        held = (
            select(reservations)
            .where(c.order_id == order_id, c.status == ReservationStatus.RESERVED.value)
            .order_by(c.sku, c.warehouse)
        )
        rows = (await self.session.execute(held.with_for_update(skip_locked=True))).mappings().all()
        total = await self.session.scalar(
            select(func.count())
            .select_from(reservations)
            .where(c.order_id == order_id, c.status == ReservationStatus.RESERVED.value)
        )
        if not rows or len(rows) != total:
            return None
        return Hold(
            order_id=order_id,
            reservations=[_to_reservation(r) for r in rows],
            reserved_at=min(r["created_at"] for r in rows),
            expires_at=min(r["expires_at"] for r in rows),
        )
