"""Read models for the inventory HTTP API: an order's shipment, its parcels and their tracking."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.orm import (
    shipment_tracking,
)
from orderly_inventory.adapters.shipments import ShipmentRepository
from orderly_inventory.domain.shipments import (
    ParcelLine,
    Shipment,
    ShipmentStatus,
    lines_of,
    overall_status,
)


class TrackingEventRead(BaseModel):
    """One update the carrier reported for a parcel."""

    status: str
    occurred_at: datetime
    detail: str | None


class ParcelLineRead(BaseModel):
    sku: str
    quantity: int


class ParcelRead(BaseModel):
    """One parcel of an order: what left one warehouse with one carrier booking."""

    shipment_id: UUID
    warehouse: str
    carrier: str
    tracking_number: str
    status: str
    shipped_at: datetime
    expected_delivery_at: datetime | None
    status_at: datetime | None
    status_detail: str | None
    delivered_at: datetime | None
    lines: list[ParcelLineRead]
    tracking: list[TrackingEventRead]


class ShipmentRead(BaseModel):
    """An order's shipment: its parcels (one per warehouse) and where they are.

    ``shipment_id``, ``carrier`` and ``tracking_number`` name the first parcel, as
    OrderShipped does. ``status`` is the order's: ``delivered`` once every parcel is,
    ``failed`` if any parcel failed, otherwise the least advanced parcel's status;
    ``delivered_at`` is when its last parcel was delivered.
    """

    order_id: UUID
    shipment_id: UUID
    carrier: str
    tracking_number: str
    status: str
    shipped_at: datetime
    delivered_at: datetime | None
    parcels: list[ParcelRead]


async def shipment_of(session: AsyncSession, order_id: UUID) -> ShipmentRead | None:
    shipping = ShipmentRepository(session)
    parcels = await shipping.shipments_of(order_id)
    if not parcels:
        return None
    lines = await shipping.shipped_lines(order_id)
    first = parcels[0]
    delivered = all(p.status is ShipmentStatus.DELIVERED for p in parcels)
    return ShipmentRead(
        order_id=order_id,
        shipment_id=first.shipment_id,
        carrier=first.carrier,
        tracking_number=first.tracking_number,
        status=overall_status(parcels).value,
        shipped_at=first.shipped_at,
        delivered_at=(
            max((p.delivered_at for p in parcels if p.delivered_at), default=None)
            if delivered
            else None
        ),
        parcels=await parcel_reads(session, parcels, lambda p: lines_of(p, lines)),
    )


async def parcel_reads(
    session: AsyncSession,
    parcels: Sequence[Shipment],
    lines: Callable[[Shipment], Sequence[ParcelLine]],
) -> list[ParcelRead]:
    """``parcels`` as the API shows them, each with its ``lines`` and tracking history."""
    if not parcels:
        return []
    t = shipment_tracking.c
    history: dict[UUID, list[TrackingEventRead]] = {}
    query = (
        select(t.shipment_id, t.status, t.occurred_at, t.detail)
        .where(t.shipment_id.in_([p.shipment_id for p in parcels]))
        .order_by(t.id)
    )
    for row in await session.execute(query):
        history.setdefault(row.shipment_id, []).append(
            TrackingEventRead(status=row.status, occurred_at=row.occurred_at, detail=row.detail)
        )
    return [
        ParcelRead(
            shipment_id=p.shipment_id,
            warehouse=p.warehouse,
            carrier=p.carrier,
            tracking_number=p.tracking_number,
            status=p.status.value,
            shipped_at=p.shipped_at,
            expected_delivery_at=p.expected_delivery_at,
            status_at=p.status_at,
            status_detail=p.status_detail,
            delivered_at=p.delivered_at,
            lines=[ParcelLineRead(sku=line.sku, quantity=line.quantity) for line in lines(p)],
            tracking=history.get(p.shipment_id, []),
        )
        for p in parcels
    ]
