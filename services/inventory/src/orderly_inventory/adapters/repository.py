"""Stock, reservations and shipments in PostgreSQL (SQLAlchemy Core, in the caller's transaction).

Lock order, the same in every transaction so that none can deadlock another:
the order's advisory lock, then its picking row, then its reservation rows, then
stock rows in (sku, warehouse) order. A carrier's tracking update takes the order's
lock, then the parcel's shipment row. The two jobs that claim rows before the
order's lock are the exceptions, and so only ever *try* an order's lock and never
wait for one (see ``try_lock_order``): the expiry job claims reservation rows
(and cancels a picking only once it holds the order's lock); the picking job
claims one picking row, and when the order's lock is taken it lets go at once.
Stock-takes lock their own rows before any stock row (see ``adapters.stocktakes``).
Transfers, goods receipts and return restocks lock their own row first (a
transfer, a receipt's or return's key), then stock rows in the same order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, delete, func, insert, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.orm import (
    carrier_webhook_deliveries,
    pickings,
    reservation_requests,
    reservations,
    shipment_failures,
    shipment_tracking,
    shipments,
    stock_adjustments,
    stock_levels,
    stock_movements,
    warehouses,
)
from orderly_inventory.domain.allocation import Available, Pick
from orderly_inventory.domain.ledger import Discrepancy, Level, Movement
from orderly_inventory.domain.reservations import (
    Hold,
    RequestOutcome,
    Reservation,
    ReservationRequest,
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
from orderly_schemas.checkout import Address
from orderly_schemas.cloudevents import Envelope

_ORDER_LOCK_KEY = "hashtextextended(:key, 0)"


def _order_lock_key(order_id: UUID) -> dict[str, str]:
    return {"key": f"inventory:{order_id}"}


# Statements of every reservation and shipment, built once with parameters: SQLAlchemy
# then looks their compiled form up instead of building and keying them anew.
_ADD_TO_LEVEL = (
    update(stock_levels)
    .where(
        stock_levels.c.sku == bindparam("level_sku"),
        stock_levels.c.warehouse == bindparam("level_warehouse"),
    )
    .values(
        on_hand=stock_levels.c.on_hand + bindparam("on_hand_delta"),
        reserved=stock_levels.c.reserved + bindparam("reserved_delta"),
        in_transit=stock_levels.c.in_transit + bindparam("in_transit_delta"),
        updated_at=bindparam("level_updated_at"),
    )
    .returning(
        stock_levels.c.on_hand,
        stock_levels.c.reserved,
        stock_levels.c.in_transit,
        stock_levels.c.safety_stock,
        stock_levels.c.low_stock,
    )
)
_RECORD_MOVEMENT = insert(stock_movements)


class InventoryRepository:
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

    async def warehouse_codes(self) -> set[str]:
        """The codes of every warehouse."""
        return set((await self.session.execute(select(warehouses.c.code))).scalars())

    # -- stock ------------------------------------------------------------------
    async def lock_stock(self, skus: Iterable[str]) -> dict[str, list[Available]]:
        """Lock the stock rows of ``skus`` (in (sku, warehouse) order) and say what each can give.

        Rows are locked as the sorted result is read, so two orders that share SKUs
        take their locks in the same order and wait for each other instead of deadlocking.
        """
        query = (
            select(
                stock_levels.c.sku,
                stock_levels.c.warehouse,
                stock_levels.c.on_hand,
                stock_levels.c.reserved,
                warehouses.c.priority,
                warehouses.c.region,
            )
            .join(warehouses, warehouses.c.code == stock_levels.c.warehouse)
            .where(stock_levels.c.sku.in_(sorted(set(skus))))
            .order_by(stock_levels.c.sku, stock_levels.c.warehouse)
            .with_for_update(of=stock_levels)
        )
        stock: dict[str, list[Available]] = {}
        for r in await self.session.execute(query):
            stock.setdefault(r.sku, []).append(
                Available(r.warehouse, r.priority, r.on_hand - r.reserved, r.region)
            )
        return stock

    async def lock_levels(
        self, keys: Iterable[tuple[str, str]], *, create: Collection[tuple[str, str]] = ()
    ) -> dict[tuple[str, str], Level]:
        """Lock the stock rows of ``keys`` ((sku, warehouse) pairs), one by one in that order.

        The rows in ``create`` are created first if missing (a destination that never
        held the SKU), each in its turn, so even a new row is first touched in order.
        A key without a row is absent from the result.
        """
        c = stock_levels.c
        locked = {}
        for sku, warehouse in sorted(set(keys)):
            if (sku, warehouse) in create:
                await self.session.execute(
                    pg_insert(stock_levels)
                    .values(sku=sku, warehouse=warehouse)
                    .on_conflict_do_nothing()
                )
            row = (
                await self.session.execute(
                    select(c.on_hand, c.reserved, c.in_transit, c.safety_stock, c.low_stock)
                    .where(c.sku == sku, c.warehouse == warehouse)
                    .with_for_update()
                )
            ).first()
            if row is not None:
                locked[sku, warehouse] = Level(sku, warehouse, *row)
        return locked

    async def apply_movement(self, movement: Movement, *, at: datetime) -> Level:
        """Write ``movement`` to the ledger and add its deltas to its level.

        A level that does not exist yet is created by a movement that only adds
        (a receipt into a new warehouse); the table's CHECKs refuse an oversell or
        a negative level, and the whole transaction with it.
        """
        m = movement
        if m.on_hand >= 0 and m.reserved >= 0 and m.in_transit >= 0:
            level = {"sku": m.sku, "warehouse": m.warehouse, "updated_at": at}
            await self.session.execute(insert_unless_exists(stock_levels, tuple(level)), level)
        row = (
            await self.session.execute(
                _ADD_TO_LEVEL,
                {
                    "level_sku": m.sku,
                    "level_warehouse": m.warehouse,
                    "on_hand_delta": m.on_hand,
                    "reserved_delta": m.reserved,
                    "in_transit_delta": m.in_transit,
                    "level_updated_at": at,
                },
            )
        ).first()
        if row is None:
            raise LookupError(f"no stock level of sku {m.sku!r} at warehouse {m.warehouse!r}")
        await self.session.execute(
            _RECORD_MOVEMENT,
            {
                "sku": m.sku,
                "warehouse": m.warehouse,
                "kind": m.kind.value,
                "quantity": m.quantity,
                "on_hand_delta": m.on_hand,
                "reserved_delta": m.reserved,
                "in_transit_delta": m.in_transit,
                "reason": m.reason[:2000],
                "reference": m.reference,
                "actor": m.actor,
                "occurred_at": at,
            },
        )
        return Level(m.sku, m.warehouse, *row)

    async def apply_movements(self, movements: Sequence[Movement], *, at: datetime) -> list[Level]:
        """``apply_movement`` for many levels at once, in two statements (an import).

        Each movement must name another level, one that exists and that the caller
        has locked already (so the statement takes no lock in an order of its own).
        Returns the levels after, in the order of ``movements``; the movements get
        ids in that order too.
        """
        if not movements:
            return []
        keys = [(m.sku, m.warehouse) for m in movements]
        if len(set(keys)) != len(keys):
            raise ValueError("apply_movements takes one movement per level")
        columns = {
            "skus": [m.sku for m in movements],
            "warehouses": [m.warehouse for m in movements],
            "on_hand": [m.on_hand for m in movements],
            "reserved": [m.reserved for m in movements],
            "in_transit": [m.in_transit for m in movements],
        }
        deltas = (
            "unnest(CAST(:skus AS text[]), CAST(:warehouses AS text[]), CAST(:on_hand AS int[]),"
            " CAST(:reserved AS int[]), CAST(:in_transit AS int[]))"
        )
        rows = await self.session.execute(
            text(
                "UPDATE stock_levels s SET on_hand = s.on_hand + d.on_hand,"
                " reserved = s.reserved + d.reserved, in_transit = s.in_transit + d.in_transit,"
                f" updated_at = :at FROM {deltas} AS d(sku, warehouse, on_hand, reserved,"
                " in_transit) WHERE s.sku = d.sku AND s.warehouse = d.warehouse"
                " RETURNING s.sku, s.warehouse, s.on_hand, s.reserved, s.in_transit,"
                " s.safety_stock, s.low_stock"
            ),
            {**columns, "at": at},
        )
        after = {(r.sku, r.warehouse): Level(*r) for r in rows}
        missing = [k for k in keys if k not in after]
        if missing:
            sku, warehouse = missing[0]
            raise LookupError(f"no stock level of sku {sku!r} at warehouse {warehouse!r}")
        await self.session.execute(
            text(
                "INSERT INTO stock_movements (sku, warehouse, kind, quantity, on_hand_delta,"
                " reserved_delta, in_transit_delta, reason, reference, actor, occurred_at)"
                " SELECT d.sku, d.warehouse, d.kind, d.quantity, d.on_hand, d.reserved,"
                " d.in_transit, d.reason, d.reference, d.actor, :at FROM unnest("
                "   CAST(:skus AS text[]), CAST(:warehouses AS text[]), CAST(:kinds AS text[]),"
                "   CAST(:quantities AS int[]), CAST(:on_hand AS int[]), CAST(:reserved AS int[]),"
                "   CAST(:in_transit AS int[]), CAST(:reasons AS text[]),"
                "   CAST(:references AS text[]), CAST(:actors AS text[])"
                " ) WITH ORDINALITY AS d(sku, warehouse, kind, quantity, on_hand, reserved,"
                "   in_transit, reason, reference, actor, n) ORDER BY d.n"
            ),
            {
                **columns,
                "kinds": [m.kind.value for m in movements],
                "quantities": [m.quantity for m in movements],
                "reasons": [m.reason[:2000] for m in movements],
                "references": [m.reference for m in movements],
                "actors": [m.actor for m in movements],
                "at": at,
            },
        )
        return [after[k] for k in keys]

    async def set_safety_stocks(
        self, levels: Sequence[tuple[str, str, int]], *, at: datetime
    ) -> list[Level]:
        """Set the safety stock of many (sku, warehouse, units) levels, locked by the caller."""
        if not levels:
            return []
        rows = await self.session.execute(
            text(
                "UPDATE stock_levels s SET safety_stock = d.units, updated_at = :at FROM unnest("
                "   CAST(:skus AS text[]), CAST(:warehouses AS text[]), CAST(:units AS int[])"
                " ) AS d(sku, warehouse, units) WHERE s.sku = d.sku AND s.warehouse = d.warehouse"
                " RETURNING s.sku, s.warehouse, s.on_hand, s.reserved, s.in_transit,"
                " s.safety_stock, s.low_stock"
            ),
            {
                "skus": [sku for sku, _, _ in levels],
                "warehouses": [w for _, w, _ in levels],
                "units": [u for _, _, u in levels],
                "at": at,
            },
        )
        return [Level(*r) for r in rows]

    async def set_low_stock(self, sku: str, warehouse: str, *, low: bool) -> None:
        """Remember the last alert of a level, so that the next fires only on a crossing."""
        c = stock_levels.c
        await self.session.execute(
            update(stock_levels).where(c.sku == sku, c.warehouse == warehouse).values(low_stock=low)
        )

    async def discrepancies(self) -> list[Discrepancy]:
        """Every level whose on hand, reserved or in transit differs from its ledger's sum."""
        c, m = stock_levels.c, stock_movements.c
        sums = (
            select(
                m.sku,
                m.warehouse,
                func.sum(m.on_hand_delta).label("on_hand"),
                func.sum(m.reserved_delta).label("reserved"),
                func.sum(m.in_transit_delta).label("in_transit"),
            )
            .group_by(m.sku, m.warehouse)
            .subquery()
        )
        query = (
            select(
                c.sku,
                c.warehouse,
                c.on_hand,
                c.reserved,
                c.in_transit,
                func.coalesce(sums.c.on_hand, 0).label("ledger_on_hand"),
                func.coalesce(sums.c.reserved, 0).label("ledger_reserved"),
                func.coalesce(sums.c.in_transit, 0).label("ledger_in_transit"),
            )
            .outerjoin(sums, (sums.c.sku == c.sku) & (sums.c.warehouse == c.warehouse))
            .order_by(c.sku, c.warehouse)
        )
        found = []
        for r in (await self.session.execute(query)).mappings():
            for field in ("on_hand", "reserved", "in_transit"):
                if r[field] != r[f"ledger_{field}"]:
                    found.append(
                        Discrepancy(r["sku"], r["warehouse"], field, r[field], r[f"ledger_{field}"])
                    )
        return found

    # -- levels set by hand (ERP import, safety stock, adjustments) ----------------
    async def create_levels(
        self, levels: Sequence[tuple[str, str, int]], *, at: datetime
    ) -> set[tuple[str, str]]:
        """Create the empty (sku, warehouse, safety stock) levels that do not exist yet.

        Returns the (sku, warehouse) of those created; they stay locked by this
        transaction. Created in (sku, warehouse) order, like every lock on levels.
        """
        if not levels:
            return set()
        ordered = sorted(levels)
        created = await self.session.execute(
            text(
                "INSERT INTO stock_levels (sku, warehouse, safety_stock, updated_at)"
                " SELECT k.sku, k.warehouse, k.safety_stock, :at FROM unnest("
                "   CAST(:skus AS text[]), CAST(:warehouses AS text[]), CAST(:safety AS int[])"
                " ) AS k(sku, warehouse, safety_stock) ORDER BY k.sku, k.warehouse"
                " ON CONFLICT DO NOTHING RETURNING sku, warehouse"
            ),
            {
                "skus": [sku for sku, _, _ in ordered],
                "warehouses": [w for _, w, _ in ordered],
                "safety": [s for _, _, s in ordered],
                "at": at,
            },
        )
        return {(r.sku, r.warehouse) for r in created}

    async def lock_levels_at_once(
        self, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], Level]:
        """``lock_levels`` in one statement, for many levels (an import).

        The rows are locked as the sorted result is read, in (sku, warehouse) order.
        """
        if not keys:
            return {}
        ordered = sorted(set(keys))
        rows = await self.session.execute(
            text(
                "SELECT s.sku, s.warehouse, s.on_hand, s.reserved, s.in_transit, s.safety_stock,"
                " s.low_stock FROM stock_levels s JOIN unnest("
                "   CAST(:skus AS text[]), CAST(:warehouses AS text[])"
                " ) AS k(sku, warehouse) ON k.sku = s.sku AND k.warehouse = s.warehouse"
                " ORDER BY s.sku, s.warehouse FOR UPDATE OF s"
            ),
            {"skus": [sku for sku, _ in ordered], "warehouses": [w for _, w in ordered]},
        )
        return {(r.sku, r.warehouse): Level(*r) for r in rows}

    async def moved_besides_openings(
        self, keys: Collection[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """The levels of ``keys`` that a movement other than opening stock has moved."""
        if not keys:
            return set()
        ordered = sorted(set(keys))
        rows = await self.session.execute(
            text(
                "SELECT k.sku, k.warehouse FROM unnest("
                "   CAST(:skus AS text[]), CAST(:warehouses AS text[])"
                " ) AS k(sku, warehouse) WHERE EXISTS (SELECT 1 FROM stock_movements m"
                "   WHERE m.sku = k.sku AND m.warehouse = k.warehouse AND m.kind <> 'opening')"
            ),
            {"skus": [sku for sku, _ in ordered], "warehouses": [w for _, w in ordered]},
        )
        return {(r.sku, r.warehouse) for r in rows}

    async def last_movement_id(self, sku: str, warehouse: str) -> int:
        """The id of the level's latest movement.

        Called under the level's row lock right after moving it: no other
        transaction can have written a movement of the level since, so it is ours.
        """
        m = stock_movements.c
        found = await self.session.scalar(
            select(func.max(m.id)).where(m.sku == sku, m.warehouse == warehouse)
        )
        if found is None:
            raise LookupError(f"no movement of sku {sku!r} at warehouse {warehouse!r}")
        return int(found)

    async def adjustment_of(self, adjustment_id: str) -> dict[str, Any] | None:
        """The adjustment recorded under a client's id, if any."""
        query = select(stock_adjustments).where(stock_adjustments.c.adjustment_id == adjustment_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else dict(row)

    async def record_adjustment(self, values: dict[str, Any]) -> bool:
        """Record an adjustment under its id; False if another transaction took the id first.

        ON CONFLICT waits for that transaction, so the answer is final.
        """
        inserted = await self.session.execute(
            pg_insert(stock_adjustments)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(stock_adjustments.c.adjustment_id)
        )
        return inserted.first() is not None

    # -- reservations -----------------------------------------------------------
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

    # -- shipments --------------------------------------------------------------
    async def shipments_of(self, order_id: UUID, *, lock: bool = False) -> list[Shipment]:
        """The order's parcels in warehouse order (the first is the one events name)."""
        c = shipments.c
        query = select(shipments).where(c.order_id == order_id).order_by(c.warehouse)
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
        await self.session.execute(
            insert(shipments),
            [
                {
                    "shipment_id": s.shipment_id,
                    "order_id": s.order_id,
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

    # -- pickings ---------------------------------------------------------------
    async def picking_of(self, order_id: UUID) -> Picking | None:
        query = select(pickings).where(pickings.c.order_id == order_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_picking(row)

    async def add_picking(self, picking: Picking, *, cause: Envelope | None) -> None:
        """Record a picking; ``cause`` (the ShipOrder) becomes the cause of its hand-over."""
        await self.session.execute(
            insert(pickings).values(
                order_id=picking.order_id,
                ship_to=picking.ship_to.model_dump(mode="json"),
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
            select(pickings)
            .where(c.status == PickingStatus.PICKING.value, c.due_at <= now)
            .order_by(c.due_at, c.order_id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if passing_over:
            query = query.where(c.order_id.not_in(list(passing_over)))
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        headers = row["ship_order_headers"]
        return _to_picking(row), None if headers is None else Envelope.from_headers(headers)


def _to_picking(row: Any) -> Picking:
    return Picking(
        order_id=row["order_id"],
        ship_to=Address.model_validate(row["ship_to"]),
        status=PickingStatus(row["status"]),
        started_at=row["started_at"],
        due_at=row["due_at"],
        ended_at=row["ended_at"],
        reason=row["reason"],
    )


def _to_reservation(row: Any) -> Reservation:
    return Reservation(
        sku=row["sku"],
        warehouse=row["warehouse"],
        quantity=row["quantity"],
        status=ReservationStatus(row["status"]),
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
    )
