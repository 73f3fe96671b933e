"""The inventory service's use cases: reserve, release, ship, deliver."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.carrier import Carrier
from orderly_inventory.adapters.orm import (
    reservation_requests,
    reservations,
    shipments,
    stock_levels,
    warehouses,
)
from orderly_inventory.domain.allocation import Available, Shortage, allocate
from orderly_kit.messaging import Messaging, UnitOfWork
from orderly_schemas.base import Allocation
from orderly_schemas.inventory import (
    OrderShipped,
    ReleaseStock,
    ReserveStock,
    ShipmentDelivered,
    ShipmentFailed,
    ShipOrder,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


async def _reservations(session: AsyncSession, order_id: UUID, *, lock: bool = False) -> list[Any]:
    query = (
        select(reservations)
        .where(reservations.c.order_id == order_id)
        .order_by(reservations.c.sku, reservations.c.warehouse)
    )
    if lock:
        query = query.with_for_update()
    return list((await session.execute(query)).mappings())


def _allocations(rows: list[Any]) -> list[Allocation]:
    return [
        Allocation(sku=r["sku"], warehouse=r["warehouse"], quantity=r["quantity"]) for r in rows
    ]


async def reserve_stock(uow: UnitOfWork, command: ReserveStock) -> None:
    """Reserve every line or none; a repeated command repeats the first answer."""
    s = uow.session
    previous = (
        (
            await s.execute(
                select(reservation_requests).where(
                    reservation_requests.c.order_id == command.order_id
                )
            )
        )
        .mappings()
        .first()
    )
    if previous is not None:
        await _answer_again(uow, command.order_id, previous)
        return
    wanted: dict[str, int] = defaultdict(int)
    for line in command.lines:
        wanted[line.sku] += line.quantity
    # Lock the SKUs' rows in one fixed order so that concurrent orders never deadlock.
    rows = (
        await s.execute(
            select(
                stock_levels.c.sku,
                stock_levels.c.warehouse,
                stock_levels.c.on_hand,
                stock_levels.c.reserved,
                warehouses.c.priority,
            )
            .join(warehouses, warehouses.c.code == stock_levels.c.warehouse)
            .where(stock_levels.c.sku.in_(wanted))
            .order_by(stock_levels.c.sku, stock_levels.c.warehouse)
            .with_for_update(of=stock_levels)
        )
    ).all()
    stock: dict[str, list[Available]] = defaultdict(list)
    for r in rows:
        stock[r.sku].append(Available(r.warehouse, r.priority, r.on_hand - r.reserved))
    result = allocate(sorted(wanted.items()), stock)
    now = _now()
    if isinstance(result, Shortage):
        await s.execute(
            insert(reservation_requests).values(
                order_id=command.order_id,
                outcome="failed",
                reason=result.reason,
                short_skus=sorted(result.missing),
            )
        )
        await uow.publish(
            StockReservationFailed(
                order_id=command.order_id,
                occurred_at=now,
                reason=result.reason,
                short_skus=sorted(result.missing),
            )
        )
        return
    for pick in result:
        await s.execute(
            update(stock_levels)
            .where(and_(stock_levels.c.sku == pick.sku, stock_levels.c.warehouse == pick.warehouse))
            .values(reserved=stock_levels.c.reserved + pick.quantity, updated_at=now)
        )
    await s.execute(
        insert(reservations),
        [
            {
                "order_id": command.order_id,
                "sku": p.sku,
                "warehouse": p.warehouse,
                "quantity": p.quantity,
                "status": "reserved",
            }
            for p in result
        ],
    )
    await s.execute(
        insert(reservation_requests).values(order_id=command.order_id, outcome="reserved")
    )
    await uow.publish(
        StockReserved(
            order_id=command.order_id,
            occurred_at=now,
            allocations=[
                Allocation(sku=p.sku, warehouse=p.warehouse, quantity=p.quantity) for p in result
            ],
        )
    )


async def _answer_again(uow: UnitOfWork, order_id: UUID, previous: Any) -> None:
    log.info("ReserveStock for order %s already answered (%s)", order_id, previous["outcome"])
    if previous["outcome"] == "failed":
        await uow.publish(
            StockReservationFailed(
                order_id=order_id,
                occurred_at=_now(),
                reason=previous["reason"] or "insufficient stock",
                short_skus=list(previous["short_skus"] or []),
            )
        )
        return
    held = await _reservations(uow.session, order_id)
    await uow.publish(
        StockReserved(order_id=order_id, occurred_at=_now(), allocations=_allocations(held))
    )


async def _adjust(
    session: AsyncSession, row: Any, *, reserved: int, on_hand: int, now: datetime
) -> None:
    await session.execute(
        update(stock_levels)
        .where(and_(stock_levels.c.sku == row["sku"], stock_levels.c.warehouse == row["warehouse"]))
        .values(
            reserved=stock_levels.c.reserved + reserved,
            on_hand=stock_levels.c.on_hand + on_hand,
            updated_at=now,
        )
    )


async def _set_status(session: AsyncSession, order_id: UUID, rows: list[Any], status: str) -> None:
    for r in rows:
        await session.execute(
            update(reservations)
            .where(
                and_(
                    reservations.c.order_id == order_id,
                    reservations.c.sku == r["sku"],
                    reservations.c.warehouse == r["warehouse"],
                )
            )
            .values(status=status, updated_at=_now())
        )


async def release_stock(uow: UnitOfWork, command: ReleaseStock) -> None:
    """Give back what the order still holds; safe when nothing was ever reserved."""
    s = uow.session
    now = _now()
    held = [
        r for r in await _reservations(s, command.order_id, lock=True) if r["status"] == "reserved"
    ]
    for r in held:
        await _adjust(s, r, reserved=-r["quantity"], on_hand=0, now=now)
    await _set_status(s, command.order_id, held, "released")
    if not held:
        log.info("nothing reserved for order %s; release is a no-op", command.order_id)
    await uow.publish(
        StockReleased(order_id=command.order_id, occurred_at=now, reason=command.reason)
    )


async def ship_order(
    uow: UnitOfWork, command: ShipOrder, *, carrier: Carrier, delivery_delay: timedelta
) -> None:
    """Pick the reserved stock and hand it to the carrier, once."""
    s = uow.session
    existing = (
        (await s.execute(select(shipments).where(shipments.c.order_id == command.order_id)))
        .mappings()
        .first()
    )
    if existing is not None:
        await uow.publish(
            OrderShipped(
                order_id=command.order_id,
                occurred_at=_now(),
                shipment_id=existing["shipment_id"],
                carrier=existing["carrier"],
                tracking_number=existing["tracking_number"],
            )
        )
        return
    now = _now()
    held = [
        r for r in await _reservations(s, command.order_id, lock=True) if r["status"] == "reserved"
    ]
    if not held:
        await uow.publish(
            ShipmentFailed(
                order_id=command.order_id, occurred_at=now, reason="no reserved stock for order"
            )
        )
        return
    for r in held:
        await _adjust(s, r, reserved=-r["quantity"], on_hand=-r["quantity"], now=now)
    await _set_status(s, command.order_id, held, "shipped")
    consignment = await carrier.book(
        order_id=command.order_id,
        ship_to=command.ship_to,
        parcels=len({r["warehouse"] for r in held}),
    )
    shipment_id = uuid4()
    await s.execute(
        insert(shipments).values(
            shipment_id=shipment_id,
            order_id=command.order_id,
            carrier=consignment.carrier,
            tracking_number=consignment.tracking_number,
            status="shipped",
            shipped_at=now,
            deliver_after=now + delivery_delay,
        )
    )
    await uow.publish(
        OrderShipped(
            order_id=command.order_id,
            occurred_at=now,
            shipment_id=shipment_id,
            carrier=consignment.carrier,
            tracking_number=consignment.tracking_number,
        )
    )


async def deliver_due_shipments(messaging: Messaging, *, batch: int = 200) -> int:
    """The simulated carrier's delivery scan: due shipments become delivered, once."""
    async with messaging.unit_of_work() as uow:
        now = _now()
        due = list(
            (
                await uow.session.execute(
                    select(shipments)
                    .where(shipments.c.status == "shipped")
                    .where(shipments.c.deliver_after <= now)
                    .order_by(shipments.c.deliver_after)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).mappings()
        )
        for sh in due:
            await uow.session.execute(
                update(shipments)
                .where(shipments.c.shipment_id == sh["shipment_id"])
                .values(status="delivered", delivered_at=now)
            )
            await uow.publish(
                ShipmentDelivered(
                    order_id=sh["order_id"],
                    occurred_at=now,
                    shipment_id=sh["shipment_id"],
                    tracking_number=sh["tracking_number"],
                    delivered_at=now,
                )
            )
    return len(due)
