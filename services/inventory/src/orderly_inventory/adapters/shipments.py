"""Pickings, parcels (shipments: an order's own and its replacements'), their tracking and
the carrier's webhook deliveries in PostgreSQL, in the caller's transaction (lock order: see
``adapters``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.orm import (
    carrier_webhook_deliveries,
    customer_keys,
    pickings,
    reservations,
    shipment_failures,
    shipment_tracking,
    shipments,
)
from orderly_inventory.adapters.personal_data import ShipTo, open_ship_to
from orderly_inventory.domain.reservations import (
    ReservationStatus,
)
from orderly_inventory.domain.shipments import (
    ParcelLine,
    Picking,
    PickingStatus,
    Shipment,
    ShipmentFailure,
    ShipmentStatus,
    TrackingUpdate,
)
from orderly_kit.db import insert_unless_exists
from orderly_kit.personal_data import Vault
from orderly_schemas.checkout import Address
from orderly_schemas.cloudevents import Envelope

#: A picking's row, with its customer's wrapped data key beside it.
_PICKINGS = select(
    pickings,
    customer_keys.c.key_id.label("pd_key_id"),
    customer_keys.c.wrapped_key.label("pd_wrapped_key"),
).select_from(
    pickings.outerjoin(customer_keys, customer_keys.c.customer_id == pickings.c.customer_id)
)


def _to_picking(row: Any, vault: Vault | None) -> Picking:
    if row["ship_to_sealed"] is not None and vault is None:
        raise RuntimeError("a picking's sealed address needs the service's vault to open")
    ship_to = (
        Address.model_validate(row["ship_to"])
        if vault is None
        else open_ship_to(
            vault,
            customer_id=row["customer_id"],
            sealed=row["ship_to_sealed"],
            plaintext=row["ship_to"],
            key_id=row["pd_key_id"],
            wrapped_key=row["pd_wrapped_key"],
        ).address
    )
    return Picking(
        order_id=row["order_id"],
        ship_to=ship_to,
        status=PickingStatus(row["status"]),
        started_at=row["started_at"],
        due_at=row["due_at"],
        ended_at=row["ended_at"],
        reason=row["reason"],
    )


def _to_shipment(row: Any) -> Shipment:
    return Shipment(
        shipment_id=row["shipment_id"],
        order_id=row["order_id"],
        warehouse=row["warehouse"],
        carrier=row["carrier"],
        tracking_number=row["tracking_number"],
        status=ShipmentStatus(row["status"]),
        shipped_at=row["shipped_at"],
        expected_delivery_at=row["expected_delivery_at"],
        status_at=row["status_at"],
        status_detail=row["status_detail"],
        delivered_at=row["delivered_at"],
        replacement_id=row["replacement_id"],
    )


class ShipmentRepository:
    """``vault`` opens the addresses pickings keep sealed (needed only to read pickings)."""

    def __init__(self, session: AsyncSession, *, vault: Vault | None = None) -> None:
        self.session = session
        self.vault = vault

    async def shipments_of(self, order_id: UUID, *, lock: bool = False) -> list[Shipment]:
        """The order's own parcels in warehouse order (the first is the one events name);
        its replacements' are apart (``parcels_of_replacements``)."""
        c = shipments.c
        return await self._parcels((c.order_id == order_id) & c.replacement_id.is_(None), lock)

    async def parcels_of_replacements(self, replacement_ids: Collection[UUID]) -> list[Shipment]:
        """The parcels of these replacements, by replacement, then in warehouse order."""
        if not replacement_ids:
            return []
        return await self._parcels(shipments.c.replacement_id.in_(list(replacement_ids)), False)

    async def _parcels(self, where: Any, lock: bool) -> list[Shipment]:
        c = shipments.c
        query = select(shipments).where(where).order_by(c.replacement_id, c.warehouse)
        if lock:
            query = query.with_for_update()
        return [_to_shipment(r) for r in (await self.session.execute(query)).mappings()]

    async def shipment_by_tracking_number(
        self, tracking_number: str, *, lock: bool = False
    ) -> Shipment | None:
        query = select(shipments).where(shipments.c.tracking_number == tracking_number)
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_shipment(row)

    async def add_shipments(self, parcels: Sequence[Shipment]) -> None:
        if not parcels:
            return
        await self.session.execute(
            insert(shipments),
            [
                {
                    "shipment_id": s.shipment_id,
                    "order_id": s.order_id,
                    "replacement_id": s.replacement_id,
                    "warehouse": s.warehouse,
                    "carrier": s.carrier,
                    "tracking_number": s.tracking_number,
                    "status": s.status.value,
                    "shipped_at": s.shipped_at,
                    "expected_delivery_at": s.expected_delivery_at,
                    "status_at": s.status_at,
                    "status_detail": s.status_detail,
                    "delivered_at": s.delivered_at,
                }
                for s in parcels
            ],
        )

    async def shipped_lines(self, order_id: UUID) -> dict[str, list[ParcelLine]]:
        """warehouse → the lines of the order's stock that left it, by SKU."""
        c = reservations.c
        query = (
            select(c.warehouse, c.sku, c.quantity)
            .where(c.order_id == order_id, c.status == ReservationStatus.SHIPPED.value)
            .order_by(c.warehouse, c.sku)
        )
        lines: dict[str, list[ParcelLine]] = {}
        for warehouse, sku, quantity in await self.session.execute(query):
            lines.setdefault(warehouse, []).append(ParcelLine(sku, quantity))
        return lines

    async def record_tracking(self, shipment: Shipment, update_: TrackingUpdate) -> Shipment:
        """Move the parcel to the update's status and add the update to its history."""
        delivered = update_.status is ShipmentStatus.DELIVERED
        row = (
            (
                await self.session.execute(
                    update(shipments)
                    .where(shipments.c.shipment_id == shipment.shipment_id)
                    .values(
                        status=update_.status.value,
                        status_at=update_.occurred_at,
                        status_detail=None if update_.detail is None else update_.detail[:2000],
                        delivered_at=update_.occurred_at if delivered else shipments.c.delivered_at,
                    )
                    .returning(shipments)
                )
            )
            .mappings()
            .one()
        )
        await self.session.execute(
            insert(shipment_tracking).values(
                shipment_id=shipment.shipment_id,
                status=update_.status.value,
                occurred_at=update_.occurred_at,
                detail=None if update_.detail is None else update_.detail[:2000],
                delivery_id=update_.delivery_id,
            )
        )
        return _to_shipment(row)

    async def record_webhook_delivery(
        self, carrier: str, delivery_id: str, *, at: datetime
    ) -> bool:
        """Remember a webhook delivery; False if it was received before (a replay or a retry)."""
        delivery = {"carrier": carrier, "delivery_id": delivery_id, "received_at": at}
        result = await self.session.execute(
            insert_unless_exists(
                carrier_webhook_deliveries, tuple(delivery), returning=("delivery_id",)
            ),
            delivery,
        )
        return result.first() is not None

    async def forget_webhook_deliveries(self, *, received_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` delivery ids received before ``received_before``."""
        c = carrier_webhook_deliveries.c
        old = (
            select(c.carrier, c.delivery_id)
            .where(c.received_at < received_before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self.session.execute(
            delete(carrier_webhook_deliveries)
            .where(tuple_(c.carrier, c.delivery_id).in_(old))
            .returning(c.delivery_id)
        )
        return len(result.all())

    async def failure_of(self, order_id: UUID) -> ShipmentFailure | None:
        """The carrier's refusal of the order's booking, if it refused."""
        query = select(shipment_failures).where(shipment_failures.c.order_id == order_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else ShipmentFailure(**row)

    async def add_failure(self, failure: ShipmentFailure) -> None:
        await self.session.execute(
            insert(shipment_failures).values(
                order_id=failure.order_id,
                carrier=failure.carrier,
                reason=failure.reason[:2000],  # a carrier's message, bounded by the column
                failed_at=failure.failed_at,
            )
        )

    async def picking_of(self, order_id: UUID) -> Picking | None:
        query = _PICKINGS.where(pickings.c.order_id == order_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_picking(row, self.vault)

    async def add_picking(
        self, picking: Picking, *, ship_to: ShipTo, cause: Envelope | None
    ) -> None:
        """Record a picking, its address kept as ``ship_to`` came (sealed, or from an older
        command in plaintext); ``cause`` (the ShipOrder) becomes the cause of its hand-over."""
        sealed = ship_to.sealed is not None
        await self.session.execute(
            insert(pickings).values(
                order_id=picking.order_id,
                customer_id=ship_to.customer_id,
                ship_to_sealed=ship_to.sealed,
                ship_to=None
                if sealed or ship_to.address is None
                else ship_to.address.model_dump(mode="json"),
                status=picking.status.value,
                started_at=picking.started_at,
                due_at=picking.due_at,
                ended_at=picking.ended_at,
                reason=picking.reason,
                ship_order_headers=None if cause is None else cause.to_headers(),
            )
        )

    async def end_picking(
        self, order_id: UUID, *, status: PickingStatus, reason: str | None, at: datetime
    ) -> bool:
        """Move the order's picking in progress to ``status``; False if none was in progress."""
        result = await self.session.execute(
            update(pickings)
            .where(pickings.c.order_id == order_id)
            .where(pickings.c.status == PickingStatus.PICKING.value)
            .values(
                status=status.value, reason=None if reason is None else reason[:2000], ended_at=at
            )
            .returning(pickings.c.order_id)
        )
        return result.first() is not None

    async def claim_due_picking(
        self, *, now: datetime, passing_over: Collection[UUID] = ()
    ) -> tuple[Picking, Envelope | None] | None:
        """The picking in progress due soonest that no other transaction holds, locked.

        Also returns its ShipOrder's envelope. ``passing_over``: orders this scan already
        found busy, so that it moves on to the next due picking instead of retrying them.
        """
        c = pickings.c
        query = (
            _PICKINGS.where(c.status == PickingStatus.PICKING.value, c.due_at <= now)
            .order_by(c.due_at, c.order_id)
            .limit(1)
            .with_for_update(of=pickings, skip_locked=True)
        )
        if passing_over:
            query = query.where(c.order_id.not_in(list(passing_over)))
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        headers = row["ship_order_headers"]
        return _to_picking(row, self.vault), None if headers is None else Envelope.from_headers(
            headers
        )
