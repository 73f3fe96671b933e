"""The order aggregate and its saga: every transition explicit, recorded and announced.

The domain decides and collects the messages its decisions cause; adapters
store the order and put the messages in the outbox. It uses the contract's
message models as its events and commands (plain data, no I/O).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypedDict
from uuid import UUID

from orderly_schemas.base import Message, Money, OrderLine, StockLine
from orderly_schemas.checkout import Address, OrderPlaced, PaymentDetails
from orderly_schemas.inventory import ReleaseStock, ReserveStock, ShipOrder
from orderly_schemas.order import (
    OrderCancelled,
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
    OrderPaid,
    OrderRejected,
)
from orderly_schemas.payment import CapturePayment, RefundPayment


class Status(StrEnum):
    CONFIRMED = "confirmed"  # numbered; awaiting stock
    RESERVED = "reserved"  # stock held; awaiting payment
    PAID = "paid"  # captured; awaiting shipment
    SHIPPED = "shipped"  # with the carrier; awaiting delivery
    DELIVERED = "delivered"  # awaiting the customer's confirmation or the auto-confirm delay
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


TERMINAL = frozenset({Status.COMPLETED, Status.REJECTED, Status.CANCELLED})


class OrderStateError(Exception):
    """An action the order's current status does not allow."""


@dataclass(frozen=True)
class StatusChange:
    status: Status
    at: datetime
    reason: str | None = None


@dataclass
class Order:
    order_id: UUID
    order_number: str
    customer_id: str
    customer_email: str
    customer_name: str
    lines: list[OrderLine]
    total: Money
    shipping_address: Address
    payment: PaymentDetails
    placed_at: datetime
    status: Status
    carrier: str | None = None
    tracking_numbers: list[str] = field(default_factory=list)
    payment_id: str | None = None
    delivered_at: datetime | None = None
    auto_complete_at: datetime | None = None
    #: Status changes and messages made since the order was loaded.
    changes: list[StatusChange] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    # -- creation ---------------------------------------------------------------
    @classmethod
    def place(cls, event: OrderPlaced, *, order_number: str, now: datetime) -> Order:
        """Accept a placed order: number it, confirm it and ask for stock."""
        order = cls(
            order_id=event.order_id,
            order_number=order_number,
            customer_id=event.customer.customer_id,
            customer_email=str(event.customer.email),
            customer_name=event.customer.name,
            lines=list(event.lines),
            total=event.total,
            shipping_address=event.shipping_address,
            payment=event.payment,
            placed_at=event.placed_at,
            status=Status.CONFIRMED,
        )
        order.changes.append(StatusChange(Status.CONFIRMED, now))
        order.messages += [
            OrderConfirmed(
                **order._public(now),
                customer_email=order.customer_email,
                lines=order.lines,
                total=order.total,
            ),
            ReserveStock(
                order_id=order.order_id,
                lines=[StockLine(sku=line.sku, quantity=line.quantity) for line in order.lines],
                ship_to=order.shipping_address,
            ),
        ]
        return order

    # -- saga steps (each ignores a message that arrives in the wrong state) ----
    def stock_reserved(self, now: datetime) -> bool:
        if not self._move(Status.CONFIRMED, Status.RESERVED, now):
            return False
        self.messages.append(
            CapturePayment(order_id=self.order_id, amount=self.total, payment=self.payment)
        )
        return True

    def stock_reservation_failed(self, reason: str, now: datetime) -> bool:
        if not self._move(Status.CONFIRMED, Status.REJECTED, now, reason):
            return False
        self.messages.append(OrderRejected(**self._public(now), reason=reason))
        return True

    def payment_captured(self, payment_id: str, amount: Money, now: datetime) -> bool:
        if not self._move(Status.RESERVED, Status.PAID, now):
            return False
        self.payment_id = payment_id
        self.messages += [
            OrderPaid(**self._public(now), amount=amount, payment_id=payment_id),
            ShipOrder(order_id=self.order_id, ship_to=self.shipping_address),
        ]
        return True

    def payment_failed(self, reason: str, now: datetime) -> bool:
        if not self._move(Status.RESERVED, Status.CANCELLED, now, f"payment failed: {reason}"):
            return False
        self.messages += [
            ReleaseStock(order_id=self.order_id, reason=f"payment failed: {reason}"),
            OrderCancelled(**self._public(now), reason=f"payment failed: {reason}"),
        ]
        return True

    def shipped(self, carrier: str, tracking_number: str, now: datetime) -> bool:
        if not self._move(Status.PAID, Status.SHIPPED, now):
            return False
        self.carrier = carrier
        self.tracking_numbers = [tracking_number]
        self.messages.append(
            OrderDispatched(
                **self._public(now), carrier=carrier, tracking_numbers=self.tracking_numbers
            )
        )
        return True

    def shipment_failed(self, reason: str, now: datetime) -> bool:
        why = f"shipment failed: {reason}"
        if not self._move(Status.PAID, Status.CANCELLED, now, why):
            return False
        self.messages += [
            RefundPayment(
                order_id=self.order_id,
                refund_id=f"{self.order_id}:shipment-failed",
                amount=self.total,
                reason=why,
            ),
            ReleaseStock(order_id=self.order_id, reason=why),
            OrderCancelled(**self._public(now), reason=why),
        ]
        return True

    def delivered(
        self, delivered_at: datetime, auto_complete_after: timedelta, now: datetime
    ) -> bool:
        if not self._move(Status.SHIPPED, Status.DELIVERED, now):
            return False
        self.delivered_at = delivered_at
        self.auto_complete_at = now + auto_complete_after
        self.messages.append(OrderDelivered(**self._public(now), delivered_at=delivered_at))
        return True

    def complete(self, *, confirmed_by: str, now: datetime) -> bool:
        """Close a delivered order; completing a completed order is a no-op."""
        if self.status is Status.COMPLETED:
            return False
        if self.status is not Status.DELIVERED:
            raise OrderStateError(
                f"order {self.order_number} is {self.status.value}; only a delivered order"
                " can be confirmed as received"
            )
        self._move(Status.DELIVERED, Status.COMPLETED, now, f"confirmed by {confirmed_by}")
        self.auto_complete_at = None
        self.messages.append(OrderCompleted(**self._public(now), confirmed_by=confirmed_by))
        return True

    # -- helpers ----------------------------------------------------------------
    def _move(self, expected: Status, to: Status, now: datetime, reason: str | None = None) -> bool:
        if self.status is not expected:
            return False
        self.status = to
        self.changes.append(StatusChange(to, now, reason))
        return True

    def _public(self, now: datetime) -> _Public:
        return _Public(
            order_id=self.order_id,
            order_number=self.order_number,
            customer_id=self.customer_id,
            occurred_at=now,
        )


class _Public(TypedDict):
    """The fields every public lifecycle event carries."""

    order_id: UUID
    order_number: str
    customer_id: str
    occurred_at: datetime
