"""Return parcels in PostgreSQL, in the caller's transaction (lock order: see ``adapters``).

A return's parcel is kept under its return id (booked, or refused with the reason); no
address is kept here: the collection address stays sealed with the order's picking.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.orm import return_parcels
from orderly_inventory.domain.returns import ReturnParcel, ReturnParcelStatus
from orderly_inventory.domain.shipments import ParcelLine, TrackingUpdate


def _to_parcel(row: Any) -> ReturnParcel:
    return ReturnParcel(
        return_id=row["return_id"],
        order_id=row["order_id"],
        status=ReturnParcelStatus(row["status"]),
        lines=tuple(ParcelLine(ln["sku"], ln["quantity"]) for ln in row["lines"]),
        booked_at=row["booked_at"],
        updated_at=row["updated_at"],
        warehouse=row["warehouse"],
        carrier=row["carrier"],
        tracking_number=row["tracking_number"],
        reason=row["reason"],
        status_at=row["status_at"],
        status_detail=row["status_detail"],
    )


class ReturnParcelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def parcel_of(self, return_id: UUID, *, lock: bool = False) -> ReturnParcel | None:
        """The return's parcel (or refusal), if its booking was answered."""
        return await self._one(return_parcels.c.return_id == return_id, lock=lock)

    async def parcel_by_tracking_number(
        self, tracking_number: str, *, lock: bool = False
    ) -> ReturnParcel | None:
        return await self._one(return_parcels.c.tracking_number == tracking_number, lock=lock)

    async def _one(self, where: Any, *, lock: bool) -> ReturnParcel | None:
        query = select(return_parcels).where(where)
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_parcel(row)

    async def add_parcel(self, parcel: ReturnParcel) -> None:
        p = parcel
        await self.session.execute(
            insert(return_parcels).values(
                return_id=p.return_id,
                order_id=p.order_id,
                status=p.status.value,
                warehouse=p.warehouse,
                carrier=p.carrier,
                tracking_number=p.tracking_number,
                lines=[{"sku": ln.sku, "quantity": ln.quantity} for ln in p.lines],
                reason=None if p.reason is None else p.reason[:2000],  # a carrier's message
                booked_at=p.booked_at,
                updated_at=p.updated_at,
            )
        )

    async def record_tracking(
        self, parcel: ReturnParcel, update_: TrackingUpdate, *, at: datetime
    ) -> None:
        """Move the parcel to the update's status (``at``: when it was recorded)."""
        await self.session.execute(
            update(return_parcels)
            .where(return_parcels.c.return_id == parcel.return_id)
            .values(
                status=update_.status.value,
                status_at=update_.occurred_at,
                status_detail=None if update_.detail is None else update_.detail[:2000],
                updated_at=at,
            )
        )

    async def mark_received(self, return_id: UUID, *, at: datetime) -> bool:
        """The booked parcel of the return is received (restocked); False if there is none
        or it was received before."""
        c = return_parcels.c
        result = await self.session.execute(
            update(return_parcels)
            .where(
                c.return_id == return_id,
                c.status.not_in(
                    [ReturnParcelStatus.RECEIVED.value, ReturnParcelStatus.REFUSED.value]
                ),
            )
            .values(status=ReturnParcelStatus.RECEIVED.value, updated_at=at)
            .returning(c.return_id)
        )
        return result.first() is not None
