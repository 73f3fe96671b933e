"""The stages an order passes through, and which one is its status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class Stage(StrEnum):
    """A step of the order lifecycle; the status of an order is one of them."""

    PLACED = "placed"
    CONFIRMED = "confirmed"
    PAID = "paid"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    #: The saga could not finish on its own (a refund kept failing, a parcel never arrived).
    NEEDS_ATTENTION = "needs_attention"


TERMINAL_STAGES = frozenset(
    {Stage.COMPLETED, Stage.REJECTED, Stage.CANCELLED, Stage.NEEDS_ATTENTION}
)

# Most decisive first. Terminal stages win over any progress, whatever order the
# events arrived in. The saga never ends one order in two terminal stages; the
# fixed order among them only keeps the answer deterministic if it ever did.
_PRECEDENCE = (
    Stage.COMPLETED,
    Stage.CANCELLED,
    Stage.REJECTED,
    # Below the endings: an order cancelled whose refund then failed stays cancelled;
    # one shipped and never delivered shows that it needs attention.
    Stage.NEEDS_ATTENTION,
    Stage.DELIVERED,
    Stage.DISPATCHED,
    Stage.PAID,
    Stage.CONFIRMED,
    Stage.PLACED,
)


class NoStageReachedError(ValueError):
    """An order's status was asked for before any of its stages was recorded."""


def current_status(reached: Iterable[Stage]) -> Stage:
    """The status of an order that has reached ``reached``: its most advanced stage."""
    stages = set(reached)
    for stage in _PRECEDENCE:
        if stage in stages:
            return stage
    raise NoStageReachedError("an order has a status only once one of its stages is recorded")


def completion_rate(orders_by_status: Mapping[Stage, int]) -> float | None:
    """Completed orders as a share of the orders that ended; None while none has ended."""
    ended = sum(orders_by_status.get(stage, 0) for stage in TERMINAL_STAGES)
    if ended == 0:
        return None
    return orders_by_status.get(Stage.COMPLETED, 0) / ended
