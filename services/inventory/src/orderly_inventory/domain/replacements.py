"""Replacements: goods sent in a parcel of their own in place of an order's (no I/O).

A ShipReplacement (a claim's reshipment of a parcel lost in transit, or an exchange's new
goods) takes its lines from the stock available in any warehouse, chosen as ReserveStock
chooses (``domain.allocation``: all or nothing, one warehouse when one can serve it all),
never from the order's own reservation. Its life is a ShipOrder's in short: the stock is
reserved, picked (for the pick delay, if one is set) and handed to the carrier, one
parcel per warehouse; or, when a line is short or there is no address to ship to,
nothing is taken and the replacement is refused.

A replacement is decided once, under its id: every ShipReplacement of it is answered with
the same ReplacementShipped or ReplacementRefused, and none is answered while it is still
being picked (the hand-over answers). Its parcels are tracked like the order's, each
step a ShipmentTracked; the replacement ends delivered (ReplacementDelivered, once every
parcel is) or failed (ReplacementFailed, once, when a parcel fails), never with the
order-level ShipmentDelivered or ShipmentFailed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from orderly_inventory.domain.allocation import (
    Available,
    Pick,
    Policy,
    Shortage,
    allocate,
    wanted_by_sku,
)
from orderly_inventory.domain.errors import ConflictError
from orderly_inventory.domain.ledger import SAGA_ACTOR, SYSTEM_ACTOR, Movement, MovementKind
from orderly_inventory.domain.shipments import (
    ADDRESS_ERASED,
    ParcelLine,
    PlannedParcel,
    Shipment,
    ShipmentStatus,
    failure_reason,
    plan_parcels,
)
from orderly_schemas.inventory import (
    ReplacementDelivered,
    ReplacementFailed,
    ReplacementRefused,
    ReplacementShipped,
)


class ReplacementStatus(StrEnum):
    PICKING = "picking"  # its stock reserved; handed to the carrier when the picking is due
    SHIPPED = "shipped"  # its parcels left with the carrier
    DELIVERED = "delivered"  # every parcel delivered
    FAILED = "failed"  # a parcel failed in transit (lost, undeliverable)
    REFUSED = "refused"  # nothing shipped, nothing taken: ``refusal`` says why


#: The statuses in which the replacement's stock has left the shelf.
SENT = (ReplacementStatus.SHIPPED, ReplacementStatus.DELIVERED, ReplacementStatus.FAILED)


@dataclass(frozen=True)
class Replacement:
    """Goods sent for an order in a parcel (per warehouse) of their own."""

    replacement_id: UUID
    order_id: UUID
    #: What was asked for, one line per SKU, in SKU order.
    lines: tuple[ParcelLine, ...]
    #: Why it is sent (the command's reason: a claim, an exchange).
    reason: str
    status: ReplacementStatus
    #: When the first ShipReplacement was decided.
    requested_at: datetime
    updated_at: datetime
    #: The stock taken for it, in (sku, warehouse) order; none when refused at once.
    picks: tuple[Pick, ...] = ()
    #: When its picking is done and its parcels leave.
    due_at: datetime | None = None
    refusal: str | None = None
    short_skus: tuple[str, ...] = ()

    def check_order(self, order_id: UUID) -> None:
        """ConflictError unless ``order_id`` is the replacement's: an id names one replacement."""
        if order_id != self.order_id:
            raise ConflictError(
                f"replacement {self.replacement_id} is of order {self.order_id}, not {order_id}:"
                " a replacement id names one replacement"
            )

    def due(self, now: datetime) -> bool:
        """Whether it is picked and its parcels should leave now."""
        return (
            self.status is ReplacementStatus.PICKING
            and self.due_at is not None
            and self.due_at <= now
        )

    def parcels(self) -> list[PlannedParcel]:
        """Its parcels: one per warehouse it takes stock from, lines by SKU."""
        return plan_parcels(self.picks)

    def reservation_movements(self) -> list[Movement]:
        """Its stock taken out of what is available, held for it until it ships."""
        return [
            self._movement(
                p, MovementKind.RESERVATION, reserved=p.quantity, reason=f"reserved for {self}"
            )
            for p in self.picks
        ]

    def shipment_movements(self, parcels: Sequence[Shipment]) -> list[Movement]:
        """Its held stock off the shelf, with the parcel (``parcels``, by warehouse) it left in."""
        of = {p.warehouse: p for p in parcels}
        return [
            self._movement(
                p,
                MovementKind.SHIPMENT,
                on_hand=-p.quantity,
                reserved=-p.quantity,
                reason=(
                    f"{self} shipped with {of[p.warehouse].carrier}"
                    f" as {of[p.warehouse].tracking_number}"
                ),
                actor=SYSTEM_ACTOR,
            )
            for p in self.picks
        ]

    def release_movements(self, why: str) -> list[Movement]:
        """Its held stock given back: it will not ship (``why``)."""
        return [
            self._movement(
                p,
                MovementKind.RELEASE,
                reserved=-p.quantity,
                reason=f"released: {self} refused: {why[:1000]}",
                actor=SYSTEM_ACTOR,
            )
            for p in self.picks
        ]

    def _movement(
        self,
        pick: Pick,
        kind: MovementKind,
        *,
        reason: str,
        on_hand: int = 0,
        reserved: int = 0,
        actor: str = SAGA_ACTOR,
    ) -> Movement:
        return Movement(
            sku=pick.sku,
            warehouse=pick.warehouse,
            kind=kind,
            quantity=pick.quantity,
            on_hand=on_hand,
            reserved=reserved,
            reason=reason,
            reference=str(self.replacement_id),
            actor=actor,
        )

    def __str__(self) -> str:
        return f"replacement {self.replacement_id} of order {self.order_id}"

    def shipped(self, at: datetime) -> Replacement:
        return replace(self, status=ReplacementStatus.SHIPPED, updated_at=at)

    def refused(
        self, why: str, *, at: datetime, short_skus: Sequence[str] = (), held: bool = True
    ) -> Replacement:
        """Refused: nothing ships. What it held is given back (``release_movements``); when
        it held nothing (not ``held``: refused before its stock was reserved) it keeps no
        picks, for it took nothing."""
        return replace(
            self,
            status=ReplacementStatus.REFUSED,
            refusal=why,
            short_skus=tuple(short_skus),
            updated_at=at,
            picks=self.picks if held else (),
        )

    def answer(self, parcels: Sequence[Shipment]) -> ReplacementShipped | ReplacementRefused | None:
        """The answer to every ShipReplacement of it: shipped (its ``parcels``) or refused,
        the same each time; None while it is being picked."""
        if self.status is ReplacementStatus.PICKING:
            return None
        if self.status is ReplacementStatus.REFUSED:
            assert self.refusal is not None  # a refusal keeps its reason
            return ReplacementRefused(
                order_id=self.order_id,
                occurred_at=self.updated_at,  # when it was refused: it changes no more
                replacement_id=self.replacement_id,
                reason=self.refusal,
                short_skus=list(self.short_skus),
            )
        assert parcels, f"{self} is {self.status.value} without parcels"
        lines = {p.warehouse: p.lines for p in self.parcels()}
        return ReplacementShipped(
            order_id=self.order_id,
            occurred_at=parcels[0].shipped_at,
            replacement_id=self.replacement_id,
            parcels=[p.announced(lines[p.warehouse]) for p in parcels],
        )

    def progress(
        self, parcels: Sequence[Shipment]
    ) -> tuple[Replacement, ReplacementDelivered | ReplacementFailed | None]:
        """Where it stands once a parcel of it (one of ``parcels``, as they are now) moved.

        FAILED when a parcel failed, with ReplacementFailed naming it; DELIVERED once every
        parcel is, with ReplacementDelivered at the last delivery. Each is announced once:
        a replacement that ended stays as it is, whatever its other parcels do.
        """
        if self.status is not ReplacementStatus.SHIPPED or not parcels:
            return self, None
        failed = [p for p in parcels if p.status is ShipmentStatus.FAILED]
        if failed:
            first = min(failed, key=lambda p: (p.status_at or p.shipped_at, p.warehouse))
            at = first.status_at or first.shipped_at
            return replace(self, status=ReplacementStatus.FAILED, updated_at=at), ReplacementFailed(
                order_id=self.order_id,
                occurred_at=at,
                replacement_id=self.replacement_id,
                reason=failure_reason(first, first.status_detail),
            )
        if any(p.status is not ShipmentStatus.DELIVERED for p in parcels):
            return self, None
        delivered_at = max(p.delivered_at or p.status_at or p.shipped_at for p in parcels)
        return replace(
            self, status=ReplacementStatus.DELIVERED, updated_at=delivered_at
        ), ReplacementDelivered(
            order_id=self.order_id,
            occurred_at=delivered_at,
            replacement_id=self.replacement_id,
            delivered_at=delivered_at,
        )


def decide(
    *,
    replacement_id: UUID,
    order_id: UUID,
    lines: Sequence[tuple[str, int]],
    reason: str,
    available: Mapping[str, Sequence[Available]] | None,
    at: datetime,
    pick_delay: timedelta = timedelta(0),
    policy: Policy = Policy.PRIORITY,
    ship_region: str | None = None,
) -> Replacement:
    """A new replacement of ``lines`` (sku, units), decided at ``at``.

    ``available`` is what each warehouse can give of the lines' SKUs, or None when there
    is no address to ship to (the customer was erased): then it is refused at once, as
    it is when any line is short (naming each short SKU). Otherwise it takes its stock
    as ReserveStock would (``policy``, ``ship_region``) and is picked until
    ``at + pick_delay``.
    """
    wanted = wanted_by_sku(lines)
    replacement = Replacement(
        replacement_id=replacement_id,
        order_id=order_id,
        lines=tuple(ParcelLine(sku, n) for sku, n in wanted.items()),
        reason=reason,
        status=ReplacementStatus.PICKING,
        requested_at=at,
        updated_at=at,
    )
    if available is None:
        return replacement.refused(ADDRESS_ERASED, at=at)
    taken = allocate(wanted.items(), available, policy=policy, ship_region=ship_region)
    if isinstance(taken, Shortage):
        return replacement.refused(taken.reason, at=at, short_skus=taken.short_skus)
    return replace(replacement, picks=tuple(taken), due_at=at + pick_delay)
