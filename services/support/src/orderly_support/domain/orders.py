"""The orders the support service knows (no I/O): whose each is, what it holds, and whether
its goods have reached the customer.

The order service tells (``order.events.v1``): OrderConfirmed names the order, its customer
and its lines; OrderDelivered, or OrderCompleted if that is read first, says it was
delivered. Feedback waits for the delivery; a case about an order is its customer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class KnownOrder:
    """An order as support needs it: no prices, no addresses, only the SKUs it holds."""

    order_id: UUID
    order_number: str
    customer_id: str
    skus: frozenset[str]
    delivered_at: datetime | None = None

    @property
    def delivered(self) -> bool:
        return self.delivered_at is not None
