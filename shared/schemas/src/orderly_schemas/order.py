"""The public order lifecycle on ``order.events.v1``: what other teams subscribe to."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from orderly_schemas import topics
from orderly_schemas.base import AwareDatetime, Message, Money, OrderLine
from orderly_schemas.personal import SealedPersonalData


class OrderEvent(Message):
    topic = topics.ORDER_EVENTS

    order_id: UUID
    order_number: str = Field(min_length=1, max_length=32)
    customer_id: str
    occurred_at: AwareDatetime


class OrderConfirmed(OrderEvent):
    """The order was accepted and numbered; stock is being reserved. The customer's email
    is in ``personal`` (sealed: field customer_email), or in ``customer_email`` in events
    published before personal data was sealed."""

    customer_email: str | None = Field(
        default=None, description="no longer sent (personal data): read from older events"
    )
    personal: SealedPersonalData | None = None
    lines: list[OrderLine]
    total: Money


class OrderRejected(OrderEvent):
    """The order could not be accepted (for example stock was short)."""

    reason: str


class OrderCancelled(OrderEvent):
    """The order was cancelled; whatever had been done is being undone."""

    reason: str


class OrderPaid(OrderEvent):
    """Payment for the order was captured."""

    amount: Money
    payment_id: str


class OrderDispatched(OrderEvent):
    """The order left the warehouse (the public 'shipped' event)."""

    carrier: str
    tracking_numbers: list[str] = Field(min_length=1)


class OrderDelivered(OrderEvent):
    """The carrier delivered the order."""

    delivered_at: AwareDatetime


class OrderCompleted(OrderEvent):
    """The customer confirmed receipt, or the auto-confirm delay passed."""

    confirmed_by: str = Field(description="'customer' or 'auto-confirm'")


class OrderNeedsAttention(OrderEvent):
    """The saga could not finish on its own (a refund kept failing); a person must act."""

    reason: str
    amount: Money | None = Field(default=None, description="the money at stake, if any")


#: What happened to the goods on their way: lost, or delivered damaged by the carrier.
ClaimKind = Literal["lost", "damaged"]
#: How support settles a claim: the goods sent again (no new payment), or the money back.
ClaimResolution = Literal["reshipment", "refund"]


class OrderClaimed(OrderEvent):
    """Support settled a claim on a shipped order whose parcel was lost or damaged in
    transit: the order leaves 'needs attention' and is reshipped (OrderReshipped follows)
    or refunded in full (OrderCancelled follows)."""

    claim_id: UUID
    claim_number: str = Field(min_length=1, max_length=32, description="e.g. CLM-0000042")
    kind: ClaimKind
    resolution: ClaimResolution
    carrier: str | None = Field(default=None, description="the carrier the goods were lost by")
    opened_by: str = Field(min_length=1, max_length=200)


class OrderReshipped(OrderEvent):
    """The claim's replacement left the warehouse: the order is shipped again."""

    claim_id: UUID
    replacement_id: UUID
    carrier: str
    tracking_numbers: list[str] = Field(min_length=1)
