"""Read models of an order's replacements for the HTTP API: what was sent in place of its
goods, why, and where each parcel is (never the address)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.replacements import ReplacementRepository
from orderly_inventory.adapters.shipments import ShipmentRepository
from orderly_inventory.domain.replacements import Replacement, ReplacementStatus
from orderly_inventory.domain.shipments import ParcelLine
from orderly_inventory.queries.tracking import ParcelLineRead, ParcelRead, parcel_reads


class ReplacementRead(BaseModel):
    """A replacement of an order's goods, in parcels of its own.

    ``status``: picking (its stock reserved, the warehouse picks it until ``due_at``),
    shipped, delivered (every parcel), failed (a parcel failed in transit), or refused
    (``refusal`` says why; ``short_skus`` the SKUs short of stock; nothing was taken).
    """

    replacement_id: UUID
    order_id: UUID
    status: ReplacementStatus
    reason: str
    lines: list[ParcelLineRead]
    requested_at: datetime
    updated_at: datetime
    due_at: datetime | None
    refusal: str | None
    short_skus: list[str]
    parcels: list[ParcelRead]


async def replacements_of(
    session: AsyncSession,
    order_id: UUID,
    *,
    limit: int,
    before: tuple[datetime, UUID] | None = None,
) -> list[ReplacementRead]:
    """The order's replacements, newest first (see ``ReplacementRepository.replacements_of``)."""
    found = await ReplacementRepository(session).replacements_of(
        order_id, limit=limit, before=before
    )
    parcels = await ShipmentRepository(session).parcels_of_replacements(
        [r.replacement_id for r in found]
    )
    lines: dict[tuple[UUID | None, str], list[ParcelLine]] = {
        (r.replacement_id, planned.warehouse): planned.lines
        for r in found
        for planned in r.parcels()
    }
    reads = await parcel_reads(
        session, parcels, lambda p: lines.get((p.replacement_id, p.warehouse), [])
    )
    parcels_of: dict[UUID | None, list[ParcelRead]] = {}
    for parcel, read in zip(parcels, reads, strict=True):
        parcels_of.setdefault(parcel.replacement_id, []).append(read)
    return [_read(r, parcels_of.get(r.replacement_id, [])) for r in found]


def _read(r: Replacement, parcels: list[ParcelRead]) -> ReplacementRead:
    return ReplacementRead(
        replacement_id=r.replacement_id,
        order_id=r.order_id,
        status=r.status,
        reason=r.reason,
        lines=[ParcelLineRead(sku=ln.sku, quantity=ln.quantity) for ln in r.lines],
        requested_at=r.requested_at,
        updated_at=r.updated_at,
        due_at=r.due_at if r.status is ReplacementStatus.PICKING else None,
        refusal=r.refusal,
        short_skus=list(r.short_skus),
        parcels=parcels,
    )
