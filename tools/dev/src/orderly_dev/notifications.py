"""What the notification service's tests share: a channel that records, and order events.

Both the use-case unit tests (in memory) and the integration tests (PostgreSQL) send
through ``RecordingChannel`` and build the same events of one order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from orderly_kit.personal_data import development_vault
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
from orderly_schemas.personal import CUSTOMER_EMAIL

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


#: Seals as the order service does with the development keys (the tests' services hold them).
VAULT = development_vault()


def confirmed(order_id: UUID) -> OrderConfirmed:
    """The order's confirmation: the first event, with the customer's email sealed."""
    return OrderConfirmed(
        **common(order_id),
        personal=VAULT.sealed_data(os.urandom(32), "C00007", {CUSTOMER_EMAIL: EMAIL}),
        lines=[OrderLine(sku="DEMO-0001", quantity=1, unit_price=TOTAL)],
        total=TOTAL,
    )


def confirmed_before_sealing(order_id: UUID) -> OrderConfirmed:
    """A confirmation as published before emails were sealed: the email in plaintext."""
    return confirmed(order_id).model_copy(update={"personal": None, "customer_email": EMAIL})


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
