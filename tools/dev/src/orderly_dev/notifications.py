"""What the notification service's tests share: a channel that records, and order events.

Both the use-case unit tests (in memory) and the integration tests (PostgreSQL) send
through ``RecordingChannel`` and build the same events of one order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from orderly_schemas.base import Money, OrderLine
from orderly_schemas.order import (
    OrderCancelled,
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
    OrderEvent,
    OrderPaid,
    OrderRejected,
)

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EMAIL = "ada@example.com"
TOTAL = Money(amount=2500, currency="EUR")


@dataclass
class RecordingChannel:
    """A channel that keeps what it was asked to send, or fails if told to."""

    name: str = "recording"
    failure: Exception | None = None
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, *, recipient: str, subject: str, body: str) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.append((recipient, subject))


def common(order_id: UUID) -> dict[str, Any]:
    """The fields every event of the order carries."""
    return {
        "order_id": order_id,
        "order_number": "ORD-0000007",
        "customer_id": "C00007",
        "occurred_at": AT,
    }


def confirmed(order_id: UUID) -> OrderConfirmed:
    """The order's confirmation: the first event, with the customer's email."""
    return OrderConfirmed(
        **common(order_id),
        customer_email=EMAIL,
        lines=[OrderLine(sku="DEMO-0001", quantity=1, unit_price=TOTAL)],
        total=TOTAL,
    )


def later_events(order_id: UUID) -> list[OrderEvent]:
    """One of each event that tells the customer of a later step."""
    c = common(order_id)
    return [
        OrderRejected(**c, reason="DEMO-SOLDOUT is out of stock"),
        OrderCancelled(**c, reason="customer asked"),
        OrderPaid(**c, amount=TOTAL, payment_id="pay_1"),
        OrderDispatched(**c, carrier="SimPost", tracking_numbers=["SP1"]),
        OrderDelivered(**c, delivered_at=AT),
        OrderCompleted(**c, confirmed_by="auto-confirm"),
    ]
