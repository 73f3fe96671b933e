"""Transfers between warehouses: draft → dispatched → received, or cancelled (no I/O).

A draft can be edited or cancelled. Dispatch takes the units off the source's
shelf and puts them in transit towards the destination; receipt takes them out
of transit, onto the destination's shelf as far as they arrived whole. Damaged
units and units lost on the way are written off, so the ledger accounts for
every unit that left. Each step taken again (an HTTP retry) is a no-op; a step
the status does not allow is a conflict that names the status.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from orderly_inventory.domain.errors import ConflictError, InvalidInputError, one_line_per_sku
from orderly_inventory.domain.ledger import Level, Movement, MovementKind
from orderly_schemas.inventory import StockReceived, StockTransferred
from orderly_schemas.inventory import TransferLine as TransferredLine


class TransferStatus(StrEnum):
    DRAFT = "draft"
    DISPATCHED = "dispatched"  # left the source, in transit
    RECEIVED = "received"  # arrived at the destination (possibly short or damaged)
    CANCELLED = "cancelled"  # abandoned while a draft; never moved stock


class Step(StrEnum):
    EDIT = "edit"
    CANCEL = "cancel"
    DISPATCH = "dispatch"
    RECEIVE = "receive"

    @property
    def done(self) -> str:
        """The step in the passive: "a draft can be <done>"."""
        return _PASSIVE[self]


_PASSIVE: Mapping[Step, str] = {
    Step.EDIT: "edited",
    Step.CANCEL: "cancelled",
    Step.DISPATCH: "dispatched",
    Step.RECEIVE: "received",
}


#: The statuses a step can be taken from.
_TAKEN_FROM: Mapping[Step, frozenset[TransferStatus]] = {
    Step.EDIT: frozenset({TransferStatus.DRAFT}),
    Step.CANCEL: frozenset({TransferStatus.DRAFT}),
    Step.DISPATCH: frozenset({TransferStatus.DRAFT}),
    Step.RECEIVE: frozenset({TransferStatus.DISPATCHED}),
}
#: The statuses in which a step was already taken: taking it again is a retry, a no-op.
_ALREADY_TAKEN: Mapping[Step, frozenset[TransferStatus]] = {
    Step.EDIT: frozenset(),
    Step.CANCEL: frozenset({TransferStatus.CANCELLED}),
    Step.DISPATCH: frozenset({TransferStatus.DISPATCHED, TransferStatus.RECEIVED}),
    Step.RECEIVE: frozenset({TransferStatus.RECEIVED}),
}
#: What to do instead, per status, when a step is refused.
_ADVICE: Mapping[TransferStatus, str] = {
    TransferStatus.DRAFT: "dispatch it first",
    TransferStatus.DISPATCHED: "receive it at the destination, then correct stock with an"
    " adjustment if needed",
    TransferStatus.RECEIVED: "it is complete; correct stock with an adjustment if needed",
    TransferStatus.CANCELLED: "create a new transfer",
}


class TransferStateError(ConflictError):
    """A step the transfer's current status does not allow."""

    def __init__(self, transfer_id: UUID, status: TransferStatus, step: Step) -> None:
        allowed = " or ".join(sorted(_TAKEN_FROM[step]))
        super().__init__(
            f"transfer {transfer_id} is {status}: only a {allowed} transfer can be {step.done};"
            f" {_ADVICE[status]}"
        )
        self.status = status


@dataclass(frozen=True)
class Shortage:
    """A line the source warehouse cannot give: available = on hand - reserved."""

    sku: str
    warehouse: str
    needed: int
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def __str__(self) -> str:
        return (
            f"sku {self.sku} needs {self.needed} but {self.available} are available at"
            f" {self.warehouse} ({self.on_hand} on hand, {self.reserved} reserved)"
        )


class InsufficientStockError(ConflictError):
    """The source warehouse cannot give every line; nothing was dispatched."""

    def __init__(self, transfer_id: UUID, shortages: Sequence[Shortage]) -> None:
        super().__init__(
            f"transfer {transfer_id} cannot be dispatched: "
            + "; ".join(str(s) for s in shortages)
            + ". Reserved stock is never transferred: lower the quantities or wait for stock"
        )
        self.shortages = list(shortages)


@dataclass(frozen=True)
class TransferLine:
    """Units of one SKU on a transfer; ``received`` and ``damaged`` once it arrives."""

    sku: str
    quantity: int
    received: int | None = None
    damaged: int | None = None

    @property
    def lost(self) -> int | None:
        """Units that left the source and never arrived (the shortfall)."""
        if self.received is None or self.damaged is None:
            return None
        return self.quantity - self.received - self.damaged


@dataclass(frozen=True)
class Transfer:
    transfer_id: UUID
    from_warehouse: str
    to_warehouse: str
    status: TransferStatus
    lines: tuple[TransferLine, ...]  # one per SKU, in SKU order
    created_by: str
    created_at: datetime
    updated_at: datetime
    dispatched_by: str | None = None
    dispatched_at: datetime | None = None
    received_by: str | None = None
    received_at: datetime | None = None
    cancelled_by: str | None = None
    cancelled_at: datetime | None = None

    @property
    def reference(self) -> str:
        """What the transfer's movements and events refer to: its id."""
        return str(self.transfer_id)

    def same_draft(self, other: Transfer) -> bool:
        """Whether ``other`` asks for the same warehouses and units (a retried create)."""
        return (self.from_warehouse, self.to_warehouse, _units(self)) == (
            other.from_warehouse,
            other.to_warehouse,
            _units(other),
        )

    def announcement(self, at: datetime) -> StockTransferred:
        """StockTransferred for the step just taken: dispatched, or received with the counts."""
        return StockTransferred(
            transfer_id=self.transfer_id,
            status="received" if self.status is TransferStatus.RECEIVED else "dispatched",
            from_warehouse=self.from_warehouse,
            to_warehouse=self.to_warehouse,
            lines=[
                TransferredLine(
                    sku=ln.sku, quantity=ln.quantity, received=ln.received, damaged=ln.damaged
                )
                for ln in self.lines
            ],
            occurred_at=at,
        )

    def arrivals(self, levels: Sequence[Level]) -> list[StockReceived]:
        """StockReceived per SKU that arrived whole, given the levels ``receive_movements`` left.

        A SKU of which nothing arrived whole announces nothing.
        """
        if self.received_by is None or self.received_at is None:
            raise ValueError(f"transfer {self.transfer_id} is not received yet")
        after = {level.sku: level for level in levels if level.warehouse == self.to_warehouse}
        return [
            after[line.sku].arrival(
                line.received, reference=self.reference, actor=self.received_by, at=self.received_at
            )
            for line in self.lines
            if line.received
        ]


def _units(transfer: Transfer) -> list[tuple[str, int]]:
    return [(line.sku, line.quantity) for line in transfer.lines]


def draft_lines(
    *,
    from_warehouse: str,
    to_warehouse: str,
    lines: Sequence[tuple[str, int]],
    warehouses: Collection[str],
) -> tuple[TransferLine, ...]:
    """The lines of a valid draft, in SKU order; InvalidInputError names the field that is not."""
    known = ", ".join(sorted(warehouses)) or "none"
    for field, code in (("from_warehouse", from_warehouse), ("to_warehouse", to_warehouse)):
        if code not in warehouses:
            raise InvalidInputError((field,), f"no warehouse {code!r} (known: {known})", value=code)
    if from_warehouse == to_warehouse:
        raise InvalidInputError(
            ("to_warehouse",),
            f"must differ from from_warehouse ({from_warehouse!r}):"
            " a transfer moves stock between two warehouses",
        )
    return tuple(TransferLine(sku, n) for sku, n in one_line_per_sku(lines, "a transfer"))


def must_take(transfer: Transfer, step: Step) -> bool:
    """Whether ``step`` is still to be taken: False if it was already (a retry).

    Raises TransferStateError when the transfer's status does not allow the step.
    """
    if transfer.status in _TAKEN_FROM[step]:
        return True
    if transfer.status in _ALREADY_TAKEN[step]:
        return False
    raise TransferStateError(transfer.transfer_id, transfer.status, step)


def shortages(transfer: Transfer, source: Mapping[str, Level]) -> list[Shortage]:
    """The lines the source's levels (by SKU; a missing level has nothing) cannot give."""
    found = []
    for line in transfer.lines:
        level = source.get(line.sku)
        on_hand, reserved = (0, 0) if level is None else (level.on_hand, level.reserved)
        if on_hand - reserved < line.quantity:
            found.append(
                Shortage(line.sku, transfer.from_warehouse, line.quantity, on_hand, reserved)
            )
    return found


def dispatch_movements(transfer: Transfer, *, actor: str) -> list[Movement]:
    """Off the source's shelf and in transit to the destination, in (sku, warehouse) order."""
    moves = []
    for line in transfer.lines:
        moves.append(
            Movement(
                sku=line.sku,
                warehouse=transfer.from_warehouse,
                kind=MovementKind.TRANSFER_OUT,
                quantity=line.quantity,
                on_hand=-line.quantity,
                reason=f"transferred to {transfer.to_warehouse}",
                reference=transfer.reference,
                actor=actor,
            )
        )
        moves.append(
            Movement(
                sku=line.sku,
                warehouse=transfer.to_warehouse,
                kind=MovementKind.TRANSFER_IN_TRANSIT,
                quantity=line.quantity,
                in_transit=line.quantity,
                reason=f"in transit from {transfer.from_warehouse}",
                reference=transfer.reference,
                actor=actor,
            )
        )
    return sorted(moves, key=lambda m: (m.sku, m.warehouse))


def counted_lines(
    transfer: Transfer, counts: Sequence[tuple[str, int, int]]
) -> tuple[TransferLine, ...]:
    """The transfer's lines with the ``(sku, received, damaged)`` counted at the destination.

    Every line must be counted once, and no line can have more units received and
    damaged than were dispatched; the rest (the shortfall) was lost in transit.
    """
    by_sku = {line.sku: line for line in transfer.lines}
    counted: dict[str, TransferLine] = {}
    for i, (sku, received, damaged) in enumerate(counts):
        line = by_sku.get(sku)
        if line is None:
            raise InvalidInputError(
                ("lines", i, "sku"),
                f"sku {sku!r} is not on transfer {transfer.transfer_id}"
                f" (its SKUs: {', '.join(by_sku)})",
            )
        if sku in counted:
            raise InvalidInputError(
                ("lines", i, "sku"), f"sku {sku!r} is counted more than once; give one line per SKU"
            )
        for field, units in (("received", received), ("damaged", damaged)):
            if units < 0:
                raise InvalidInputError(("lines", i, field), f"cannot be negative, got {units}")
        if received + damaged > line.quantity:
            raise InvalidInputError(
                ("lines", i, "received"),
                f"received ({received}) + damaged ({damaged}) is {received + damaged}, more"
                f" than the {line.quantity} units of sku {sku!r} dispatched",
            )
        counted[sku] = replace(line, received=received, damaged=damaged)
    missing = [sku for sku in by_sku if sku not in counted]
    if missing:
        raise InvalidInputError(
            ("lines",),
            f"no count for sku {', '.join(missing)}: give received and damaged for every line"
            " of the transfer (0 if none arrived)",
        )
    return tuple(counted[line.sku] for line in transfer.lines)


def check_same_counts(transfer: Transfer, counted: Sequence[TransferLine]) -> None:
    """A repeated receipt must repeat the counts recorded; anything else is a conflict."""
    if tuple(counted) == transfer.lines:
        return
    recorded = "; ".join(
        f"{line.sku}: {line.received} received, {line.damaged} damaged" for line in transfer.lines
    )
    raise ConflictError(
        f"transfer {transfer.transfer_id} was already received with other counts ({recorded});"
        " a receipt cannot be changed: correct stock with an adjustment"
    )


def receive_movements(transfer: Transfer, *, actor: str) -> list[Movement]:
    """Out of transit at the destination: whole units onto the shelf, the rest written off.

    ``transfer`` carries the counts (see ``counted_lines``). Movements are in SKU order.
    """
    moves = []
    origin = transfer.from_warehouse
    for line in transfer.lines:
        if line.received is None or line.damaged is None:
            raise ValueError(f"sku {line.sku} is not counted: count it with counted_lines first")
        lost = line.quantity - line.received - line.damaged
        moves.append(
            Movement(
                sku=line.sku,
                warehouse=transfer.to_warehouse,
                kind=MovementKind.TRANSFER_IN,
                quantity=line.quantity,
                on_hand=line.received,
                in_transit=-line.quantity,
                reason=(
                    f"transfer from {origin}: {line.received} of {line.quantity} received"
                    f" ({line.damaged} damaged, {lost} missing)"
                ),
                reference=transfer.reference,
                actor=actor,
            )
        )
        for units, reason in (
            (line.damaged, f"damaged in transit from {origin}"),
            (lost, f"missing: lost in transit from {origin}"),
        ):
            if units:
                moves.append(
                    Movement(
                        sku=line.sku,
                        warehouse=transfer.to_warehouse,
                        kind=MovementKind.WRITE_OFF,
                        quantity=units,
                        reason=reason,
                        reference=transfer.reference,
                        actor=actor,
                    )
                )
    return moves
