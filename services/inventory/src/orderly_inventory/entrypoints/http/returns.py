"""HTTP API for returns on their way back: a return's parcel, booked with the carrier.

Who may call: whoever reads an order's shipment (warehouse staff and support: "where is
the parcel I sent back?"). The parcel shows where it goes and how far it came, never the
address it is collected from.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel

from orderly_inventory.adapters.returns import ReturnParcelRepository
from orderly_inventory.domain.returns import ReturnParcel, ReturnParcelStatus
from orderly_inventory.entrypoints.http.tracking import READ_SHIPMENTS
from orderly_inventory.queries.tracking import ParcelLineRead
from orderly_kit.http_errors import refusal
from orderly_kit.service import Service


class ReturnParcelRead(BaseModel):
    """A return's parcel: the carrier's booking that brings the goods back to a warehouse.

    ``status``: booked, in_transit, out_for_delivery, delivered (at the warehouse, waiting
    for inspection), failed, or received (restocked).
    """

    return_id: UUID
    order_id: UUID
    warehouse: str
    carrier: str
    tracking_number: str
    status: str
    status_at: datetime | None
    status_detail: str | None
    lines: list[ParcelLineRead]
    booked_at: datetime

    @classmethod
    def of(cls, p: ReturnParcel) -> ReturnParcelRead:
        warehouse, carrier, tracking_number = p.booking
        return cls(
            return_id=p.return_id,
            order_id=p.order_id,
            warehouse=warehouse,
            carrier=carrier,
            tracking_number=tracking_number,
            status=p.status.value,
            status_at=p.status_at,
            status_detail=p.status_detail,
            lines=[ParcelLineRead(sku=ln.sku, quantity=ln.quantity) for ln in p.lines],
            booked_at=p.booked_at,
        )


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["stock"])
    database = service.database

    @r.get(
        "/returns/{return_id}/parcel",
        response_model=ReturnParcelRead,
        responses={
            404: refusal("no parcel was booked for the return (or its booking was refused)")
        },
        dependencies=[Depends(READ_SHIPMENTS)],
    )
    async def get_return_parcel(return_id: UUID) -> ReturnParcelRead:
        """A return's parcel: the warehouse it goes to, its carrier, tracking number and status."""
        async with database.sessions() as session:
            found = await ReturnParcelRepository(session).parcel_of(return_id)
        if found is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no parcel was booked for return {return_id}"
            )
        if found.status is ReturnParcelStatus.REFUSED:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"no parcel was booked for return {return_id}: it was refused ({found.reason})",
            )
        return ReturnParcelRead.of(found)

    return r
