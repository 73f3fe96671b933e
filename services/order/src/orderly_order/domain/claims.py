"""Claims: support settles an order whose parcel was lost or damaged in transit (no I/O).

An order whose shipment failed in transit, or whose delivery was never confirmed, needs
attention (``Order.shipment_failed``, the delivery deadline). Support opens a claim with a
resolution: a reshipment (the same lines sent again from available stock, no new payment)
or a full refund, without a return. The order's saga carries it out
(``Order.settle_claim``): a reshipment that cannot be reserved falls back to the refund;
one lost again leaves the order needing attention, and a new claim may settle it.

A claim follows its order: its status is the order's, as a claim reads it
(``follows``), stored whenever the claimed order's status changes; a newer claim on the
same order supersedes an older one still open. A claim keeps no free text: what support
and the customer say of it goes on a support case linked to the claim (the support
service seals it as personal data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, get_args
from uuid import UUID

from orderly_order.domain.order import Status
from orderly_schemas.order import ClaimKind, ClaimResolution

KINDS: Final = get_args(ClaimKind)
RESOLUTIONS: Final = get_args(ClaimResolution)


class ClaimStatus(StrEnum):
    RESHIPPING = "reshipping"  # the replacement asked of inventory
    RESHIPPED = "reshipped"  # the replacement is with the carrier
    DELIVERED = "delivered"
    REFUNDING = "refunding"  # asked of the payment service (also after a refused reshipment)
    REFUNDED = "refunded"
    NEEDS_ATTENTION = "needs_attention"  # the replacement was lost too, or a refund failed
    SUPERSEDED = "superseded"  # a newer claim settles the order


#: The states a claim ends in.
FINAL: Final = frozenset({ClaimStatus.DELIVERED, ClaimStatus.REFUNDED, ClaimStatus.SUPERSEDED})

#: A claimed order's status, as its claim reads it.
_FOLLOWS: Final = {
    Status.RESHIPPING: ClaimStatus.RESHIPPING,
    Status.SHIPPED: ClaimStatus.RESHIPPED,
    Status.DELIVERED: ClaimStatus.DELIVERED,
    Status.COMPLETED: ClaimStatus.DELIVERED,
    Status.CANCELLING: ClaimStatus.REFUNDING,
    Status.CANCELLED: ClaimStatus.REFUNDED,
    Status.NEEDS_ATTENTION: ClaimStatus.NEEDS_ATTENTION,
}


def follows(order_status: Status) -> ClaimStatus:
    """Where a claim stands while its order is ``order_status``."""
    return _FOLLOWS[order_status]


@dataclass(frozen=True)
class Claim:
    """A claim as opened: what happened, how support settles it, who said so."""

    claim_id: UUID
    claim_number: str
    order_id: UUID
    kind: ClaimKind
    resolution: ClaimResolution
    opened_by: str
    opened_at: datetime
    #: The replacement shipment of a reshipment (None for a refund).
    replacement_id: UUID | None
