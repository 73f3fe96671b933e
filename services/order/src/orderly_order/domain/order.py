"""The order aggregate and its saga: every transition explicit, recorded and announced.

The domain decides and collects the messages its decisions cause; adapters
store the order and put the messages in the outbox. It uses the contract's
message models as its events and commands (plain data, no I/O).

Every state that waits for another service has a deadline. When it passes, the
command is sent again (every command is idempotent at its receiver) up to
``Timeouts.max_resends`` times; then the saga compensates. Compensations are
sent together, each acknowledged on its own, so one that fails never holds
back the others; a refund that keeps failing leaves the order needing attention.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypedDict
from uuid import UUID

from orderly_schemas.base import Message, Money, OrderLine, StockLine
from orderly_schemas.checkout import Address, OrderPlaced, PaymentDetails
from orderly_schemas.inventory import ReleaseStock, ReserveStock, ShipOrder, ShipReplacement
from orderly_schemas.order import (
    ClaimKind,
    ClaimResolution,
    OrderCancelled,
    OrderClaimed,
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
    OrderNeedsAttention,
    OrderPaid,
    OrderRejected,
    OrderReshipped,
)
from orderly_schemas.payment import CapturePayment, RefundPayment


class Status(StrEnum):
    CONFIRMED = "confirmed"  # numbered; awaiting stock
    RESERVED = "reserved"  # stock held; awaiting payment
    PAID = "paid"  # captured; awaiting shipment
    SHIPPED = "shipped"  # with the carrier; awaiting delivery
    RESHIPPING = "reshipping"  # a claim's replacement asked of inventory; awaiting shipment
    DELIVERED = "delivered"  # awaiting the customer's confirmation or the auto-confirm delay
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLING = "cancelling"  # compensations sent; awaiting their acknowledgements
    CANCELLED = "cancelled"
    NEEDS_ATTENTION = "needs_attention"  # a compensation could not finish; a person must act


#: States the saga never leaves on its own (needs_attention waits for an operator).
TERMINAL = frozenset({Status.COMPLETED, Status.REJECTED, Status.CANCELLED, Status.NEEDS_ATTENTION})

#: What each waiting state waits for, as operators read it.
AWAITING = {
    Status.CONFIRMED: "stock reservation",
    Status.RESERVED: "payment",
    Status.PAID: "shipment",
    Status.SHIPPED: "delivery",
    Status.RESHIPPING: "replacement shipment",
    Status.DELIVERED: "receipt confirmation",
    Status.CANCELLING: "compensations",
}


class Compensation(StrEnum):
    RELEASE_STOCK = "release_stock"
    REFUND_PAYMENT = "refund_payment"  # refunds a capture, or voids a payment never captured
    #: A refund held back until the stock is back: ShipOrder was sent, so the goods may
    #: still leave before the release reaches the warehouse, and then the order ships.
    REFUND_AFTER_RELEASE = "refund_after_release"


class OrderStateError(Exception):
    """An action the order's current status does not allow."""


@dataclass(frozen=True)
class Timeouts:
    """How long the saga waits, and how often it asks again."""

    reply: timedelta = timedelta(seconds=60)
    max_resends: int = 3
    #: How long compensations may take before they are sent again: longer than the
    #: payment service's own refund retries, which answer only when they end.
    compensation: timedelta = timedelta(minutes=30)
    delivery: timedelta = timedelta(days=14)
    auto_complete: timedelta = timedelta(days=7)


def fingerprint(event: OrderPlaced) -> str:
    """What was ordered under an order id: the SHA-256 (hex) of the canonical JSON of the
    OrderPlaced (as the contract reads it, keys sorted, no spaces) without ``placed_at``.

    The time is left out because it is when a producer stamped the message, not part of
    the order: a retry re-stamped by its producer (``POST /orders`` stamps an order sent
    without one as it arrives) is the same order.
    """
    body = event.model_dump(mode="json", exclude={"placed_at"})
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


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
    #: The customer's personal data: None once it was erased (``erase-customer``).
    customer_email: str | None
    customer_name: str | None
    lines: list[OrderLine]
    total: Money
    shipping_address: Address | None
    payment: PaymentDetails
    placed_at: datetime
    status: Status
    status_since: datetime
    carrier: str | None = None
    tracking_numbers: list[str] = field(default_factory=list)
    payment_id: str | None = None
    delivered_at: datetime | None = None
    auto_complete_at: datetime | None = None
    #: When the current wait ends, and how many times its command was sent again.
    deadline_at: datetime | None = None
    resends: int = 0
    #: Compensations sent and not yet acknowledged.
    pending: set[Compensation] = field(default_factory=set)
    #: The refund id of the current compensating refund (a new one per operator retry).
    refund_id: str | None = None
    cancel_reason: str | None = None
    #: The ``fingerprint`` of the OrderPlaced that placed the order (None for an order
    #: placed before fingerprints were kept).
    placed_fingerprint: str | None = None
    #: The claim support settled on the order's lost or damaged parcel, and the replacement
    #: shipment it asked for (``settle_claim``); None when the order was never claimed.
    claim_id: UUID | None = None
    replacement_id: UUID | None = None
    #: Status changes and messages made since the order was loaded.
    changes: list[StatusChange] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    # -- creation ---------------------------------------------------------------
    @classmethod
    def place(
        cls, event: OrderPlaced, *, order_number: str, now: datetime, timeouts: Timeouts
    ) -> Order:
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
            status_since=now,
            placed_fingerprint=fingerprint(event),
        )
        order.changes.append(StatusChange(Status.CONFIRMED, now))
        order.messages += [
            OrderConfirmed(
                **order._public(now),
                customer_email=str(event.customer.email),
                lines=order.lines,
                total=order.total,
            ),
            order._reserve_stock(),
        ]
        order._wait(now + timeouts.reply)
        return order

    def placed_by(self, event: OrderPlaced) -> bool:
        """Whether ``event`` is the order placed under this id again (a redelivery or a
        retry), rather than another order under the same id. An order placed before
        fingerprints were kept takes any repeat as the same, as it always did."""
        return self.placed_fingerprint in (None, fingerprint(event))

    # -- saga steps (each ignores a message that arrives in the wrong state) ----
    def stock_reserved(self, now: datetime, timeouts: Timeouts) -> bool:
        if not self._move(Status.CONFIRMED, Status.RESERVED, now):
            return False
        self.messages.append(self._capture_payment())
        self._wait(now + timeouts.reply)
        return True

    def stock_reservation_failed(self, reason: str, now: datetime) -> bool:
        if not self._move(Status.CONFIRMED, Status.REJECTED, now, reason):
            return False
        self._wait(None)
        self.messages.append(OrderRejected(**self._public(now), reason=reason))
        return True

    def payment_captured(
        self, payment_id: str, amount: Money, now: datetime, timeouts: Timeouts
    ) -> bool:
        if not self._move(Status.RESERVED, Status.PAID, now):
            return False
        self.payment_id = payment_id
        self.messages += [
            OrderPaid(**self._public(now), amount=amount, payment_id=payment_id),
            self._ship_order(),
        ]
        self._wait(now + timeouts.reply)
        return True

    def payment_failed(self, reason: str, now: datetime, timeouts: Timeouts) -> bool:
        if self.status is not Status.RESERVED:
            return False
        self._compensate(f"payment failed: {reason}", now, timeouts, refund=False)
        return True

    def shipped(
        self, carrier: str, tracking_numbers: list[str], now: datetime, timeouts: Timeouts
    ) -> bool:
        """The goods left with the carrier; one tracking number per parcel."""
        if self.status is Status.CANCELLING and Compensation.REFUND_AFTER_RELEASE in self.pending:
            # The goods left before the release reached the warehouse: too late to cancel.
            self.pending.clear()
            self.refund_id = self.cancel_reason = None
            self._move(
                Status.CANCELLING,
                Status.SHIPPED,
                now,
                "shipped before the cancellation reached the warehouse; request a return",
            )
        elif not self._move(Status.PAID, Status.SHIPPED, now):
            return False
        self.carrier = carrier
        self.tracking_numbers = list(tracking_numbers)
        self.messages.append(
            OrderDispatched(
                **self._public(now), carrier=carrier, tracking_numbers=self.tracking_numbers
            )
        )
        self._wait(now + timeouts.delivery)
        return True

    def shipment_failed(self, reason: str, now: datetime, timeouts: Timeouts) -> bool:
        if self.status is Status.SHIPPED:
            # Lost or undeliverable on its way: a person decides between a reshipment and
            # a refund, as for a delivery that never came.
            self._needs_attention(f"shipment failed in transit: {reason}", now, money=False)
            return True
        if self.status is not Status.PAID:
            return False
        self._compensate(f"shipment failed: {reason}", now, timeouts, refund=True)
        return True

    def reservation_expired(self, reason: str, now: datetime, timeouts: Timeouts) -> bool:
        """Inventory let the stock go before the order shipped: undo what was done."""
        if self.status not in (Status.CONFIRMED, Status.RESERVED, Status.PAID):
            return False
        # From RESERVED on, a capture may be in flight: the refund voids it if it never ran.
        refund = self.status is not Status.CONFIRMED
        self._compensate(f"stock reservation expired: {reason}", now, timeouts, refund=refund)
        return True

    def delivered(self, delivered_at: datetime, now: datetime, timeouts: Timeouts) -> bool:
        if not self._move(Status.SHIPPED, Status.DELIVERED, now):
            return False
        self.delivered_at = delivered_at
        self.auto_complete_at = now + timeouts.auto_complete
        self._wait(self.auto_complete_at)
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
        self._wait(None)
        self.messages.append(OrderCompleted(**self._public(now), confirmed_by=confirmed_by))
        return True

    # -- cancellation -------------------------------------------------------------
    def cancel(self, *, reason: str, now: datetime, timeouts: Timeouts) -> bool:
        """The customer cancels; False if the order is already being or was cancelled."""
        if self.status in (Status.CANCELLING, Status.CANCELLED):
            return False
        if self.status in (Status.SHIPPED, Status.DELIVERED, Status.RESHIPPING):
            raise OrderStateError(
                f"order {self.order_number} is {self.status.value}: it has left the warehouse"
                " and can no longer be cancelled; request a return instead"
            )
        if self.status in TERMINAL:
            raise OrderStateError(
                f"order {self.order_number} is {self.status.value} and cannot be cancelled"
            )
        refund = self.status is not Status.CONFIRMED
        self._compensate(reason, now, timeouts, refund=refund, after_release=self._may_ship())
        return True

    def stock_released(self, now: datetime, timeouts: Timeouts) -> bool:
        if Compensation.REFUND_AFTER_RELEASE in self.pending and self.status is Status.CANCELLING:
            # The stock is back, so the goods cannot ship: now the refund may go.
            self.pending -= {Compensation.RELEASE_STOCK, Compensation.REFUND_AFTER_RELEASE}
            self.pending.add(Compensation.REFUND_PAYMENT)
            self.messages += [
                *self._compensations(),
                OrderCancelled(**self._public(now), reason=self.cancel_reason or "cancelled"),
            ]
            self._wait(now + timeouts.compensation)
            return True
        return self._acknowledge(Compensation.RELEASE_STOCK, now)

    def refund_settled(self, refund_id: str, now: datetime) -> bool:
        """The compensating refund succeeded, or the payment was voided (nothing captured)."""
        if refund_id != self.refund_id:
            return False
        return self._acknowledge(Compensation.REFUND_PAYMENT, now)

    def refund_failed(self, refund_id: str, reason: str, attempts: int, now: datetime) -> bool:
        """The payment service gave up on the refund: finance must act."""
        if refund_id != self.refund_id or Compensation.REFUND_PAYMENT not in self.pending:
            return False
        self.pending.discard(Compensation.REFUND_PAYMENT)
        self._needs_attention(f"refund failed after {attempts} attempt(s): {reason}", now)
        return True

    # -- deadlines ------------------------------------------------------------------
    def awaits_commands(self) -> bool:
        """Whether the current wait is for answers to commands the saga sent."""
        return self.status in AWAITING and self.status not in (Status.SHIPPED, Status.DELIVERED)

    def deadline_passed(self, now: datetime, timeouts: Timeouts, *, queued: bool = False) -> bool:
        """Act on an expired wait: ask again, compensate, or complete. False if not due.

        ``queued``: the commands awaited (or their answers) are still waiting in a queue.
        A busy suite is not an unanswered one: the wait starts again, and nothing is sent
        or counted as a re-send.
        """
        if self.deadline_at is None or now < self.deadline_at:
            return False
        if queued and self.awaits_commands():
            self.deadline_at = now + self._patience(timeouts)
            return True
        if self.status is Status.DELIVERED:
            return self.complete(confirmed_by="auto-confirm", now=now)
        if self.status is Status.SHIPPED:
            self._needs_attention(
                f"no delivery confirmed {timeouts.delivery} after shipment", now, money=False
            )
            return True
        if self.status not in AWAITING:
            self._wait(None)
            return True
        if self.resends < timeouts.max_resends:
            self.messages += self._current_commands()
            self.resends += 1
            self.deadline_at = now + self._patience(timeouts)
            return True
        waited_for = AWAITING[self.status]
        if self.status is Status.RESHIPPING:
            self._needs_attention(
                f"no answer to the reshipment request after {self.resends} re-sends",
                now,
                money=False,
            )
            return True
        if self.status is Status.CANCELLING:
            names = ", ".join(sorted(c.value for c in self.pending))
            self._needs_attention(
                f"compensations unanswered after {self.resends} re-sends: {names}", now
            )
            return True
        self._compensate(
            f"no answer to the {waited_for} request after {self.resends} re-sends",
            now,
            timeouts,
            refund=self.status is not Status.CONFIRMED,
            after_release=self._may_ship(),
        )
        return True

    # -- claims: a parcel lost or damaged in transit ----------------------------------
    def claimable(self) -> bool:
        """Whether a claim may settle the order: it needs attention because its goods
        left with the carrier and never arrived whole (nothing is being compensated)."""
        return (
            self.status is Status.NEEDS_ATTENTION
            and self.cancel_reason is None
            and self.carrier is not None
        )

    def settle_claim(
        self,
        *,
        claim_id: UUID,
        claim_number: str,
        kind: ClaimKind,
        resolution: ClaimResolution,
        opened_by: str,
        replacement_id: UUID | None,
        now: datetime,
        timeouts: Timeouts,
    ) -> None:
        """Support settles a claim: the goods are sent again (ShipReplacement, no new
        payment) or the payment is refunded in full; the order leaves 'needs attention'."""
        if not self.claimable():
            raise OrderStateError(
                f"order {self.order_number} is {self.status.value}: only an order whose"
                " shipment was lost, failed or never confirmed delivered (it needs attention)"
                " can be settled by a claim"
            )
        self.claim_id = claim_id
        self.messages.append(
            OrderClaimed(
                **self._public(now),
                claim_id=claim_id,
                claim_number=claim_number,
                kind=kind,
                resolution=resolution,
                carrier=self.carrier,
                opened_by=opened_by,
            )
        )
        if resolution == "refund":
            self._refund_claim(
                f"claim {claim_number}: goods {kind} in transit, refunded", now, timeouts
            )
            return
        if replacement_id is None:
            raise ValueError("a reshipment needs the id of its replacement shipment")
        self.replacement_id = replacement_id
        self._move(
            Status.NEEDS_ATTENTION, Status.RESHIPPING, now, f"claim {claim_number}: reshipment"
        )
        self.messages.append(self._ship_replacement())
        self._wait(now + timeouts.reply)

    def replacement_shipped(
        self,
        replacement_id: UUID,
        carrier: str,
        tracking_numbers: list[str],
        now: datetime,
        timeouts: Timeouts,
    ) -> bool:
        """The claim's replacement left the warehouse: the order is shipped again. Accepted
        late too, from 'needs attention' after the request went unanswered."""
        if replacement_id != self.replacement_id or not (
            self.status is Status.RESHIPPING or self.claimable()
        ):
            return False
        assert self.claim_id is not None
        self._move(self.status, Status.SHIPPED, now, "replacement shipped")
        self.carrier = carrier
        self.tracking_numbers = list(tracking_numbers)
        self.messages.append(
            OrderReshipped(
                **self._public(now),
                claim_id=self.claim_id,
                replacement_id=replacement_id,
                carrier=carrier,
                tracking_numbers=self.tracking_numbers,
            )
        )
        self._wait(now + timeouts.delivery)
        return True

    def replacement_refused(
        self, replacement_id: UUID, reason: str, now: datetime, timeouts: Timeouts
    ) -> bool:
        """Inventory cannot send the replacement: the customer is refunded instead."""
        if replacement_id != self.replacement_id or self.status is not Status.RESHIPPING:
            return False
        self._refund_claim(
            f"the replacement could not be shipped ({reason}): refunded instead", now, timeouts
        )
        return True

    def replacement_delivered(
        self, replacement_id: UUID, delivered_at: datetime, now: datetime, timeouts: Timeouts
    ) -> bool:
        if replacement_id != self.replacement_id:
            return False
        return self.delivered(delivered_at, now, timeouts)

    def replacement_failed(self, replacement_id: UUID, reason: str, now: datetime) -> bool:
        """The replacement was lost too: a person decides again (another claim)."""
        if replacement_id != self.replacement_id or self.status is not Status.SHIPPED:
            return False
        self._needs_attention(f"replacement failed in transit: {reason}", now, money=False)
        return True

    def _refund_claim(self, reason: str, now: datetime, timeouts: Timeouts) -> None:
        assert self.claim_id is not None
        self._compensate(
            reason,
            now,
            timeouts,
            refund=True,
            release=False,
            refund_id=claim_refund_id(self.claim_id),
        )

    # -- operator actions -------------------------------------------------------------
    def retry_current_step(self, now: datetime, timeouts: Timeouts) -> list[Message]:
        """Send the current step's commands again and restart its deadline."""
        if self.status is Status.NEEDS_ATTENTION and self.cancel_reason is not None:
            if self.refund_id is not None and Compensation.REFUND_PAYMENT not in self.pending:
                # The payment service gave up on that refund id for good: ask under a new one.
                # It refunds only what is still captured, so this cannot refund twice.
                self.refund_id = _next_refund_id(self.order_id, self.refund_id)
                self.pending.add(Compensation.REFUND_PAYMENT)
            if not self.pending:
                raise OrderStateError(
                    f"order {self.order_number}: no compensation is outstanding to retry"
                )
            self._move(Status.NEEDS_ATTENTION, Status.CANCELLING, now, "compensation retried")
        elif self.status not in AWAITING or self.status in (Status.SHIPPED, Status.DELIVERED):
            raise OrderStateError(
                f"order {self.order_number} is {self.status.value}: there is no step to retry"
            )
        commands = self._current_commands()
        self.messages += commands
        self._wait(now + self._patience(timeouts))
        return commands

    def force_compensation(self, *, reason: str, now: datetime, timeouts: Timeouts) -> None:
        """Give up on the saga before shipment and undo what it did."""
        if self.status not in (Status.CONFIRMED, Status.RESERVED, Status.PAID):
            raise OrderStateError(
                f"order {self.order_number} is {self.status.value}; only an order awaiting"
                " stock, payment or shipment can be compensated"
            )
        self._compensate(
            reason,
            now,
            timeouts,
            refund=self.status is not Status.CONFIRMED,
            after_release=self._may_ship(),
        )

    # -- helpers ----------------------------------------------------------------
    def _may_ship(self) -> bool:
        """ShipOrder was sent: the warehouse may still ship whatever the saga decides now."""
        return self.status is Status.PAID

    def _compensate(
        self,
        reason: str,
        now: datetime,
        timeouts: Timeouts,
        *,
        refund: bool,
        after_release: bool = False,
        release: bool = True,
        refund_id: str | None = None,
    ) -> None:
        """Undo what was done; with ``after_release`` the refund waits for the stock to be back
        (and the cancellation is announced then), because the goods might ship first.
        Without ``release`` no stock is held any more (the goods left with the carrier)."""
        self.status = Status.CANCELLING
        self.status_since = now
        self.changes.append(StatusChange(Status.CANCELLING, now, reason))
        self.cancel_reason = reason
        self.pending = {Compensation.RELEASE_STOCK} if release else set()
        if refund:
            self.refund_id = refund_id or f"{self.order_id}:cancel"
            self.pending.add(
                Compensation.REFUND_AFTER_RELEASE if after_release else Compensation.REFUND_PAYMENT
            )
        self.messages += self._compensations()
        if Compensation.REFUND_AFTER_RELEASE not in self.pending:
            self.messages.append(OrderCancelled(**self._public(now), reason=reason))
        self._wait(now + timeouts.compensation)

    def _patience(self, timeouts: Timeouts) -> timedelta:
        return timeouts.compensation if self.status is Status.CANCELLING else timeouts.reply

    def _compensations(self) -> list[Message]:
        sent: list[Message] = []
        if Compensation.REFUND_PAYMENT in self.pending:
            assert self.refund_id is not None
            sent.append(
                RefundPayment(
                    order_id=self.order_id,
                    refund_id=self.refund_id,
                    amount=self.total,
                    reason=self.cancel_reason or "order cancelled",
                )
            )
        if Compensation.RELEASE_STOCK in self.pending:
            sent.append(
                ReleaseStock(order_id=self.order_id, reason=self.cancel_reason or "cancelled")
            )
        return sent

    def _current_commands(self) -> list[Message]:
        if self.status is Status.CONFIRMED:
            return [self._reserve_stock()]
        if self.status is Status.RESERVED:
            return [self._capture_payment()]
        if self.status is Status.PAID:
            return [self._ship_order()]
        if self.status is Status.RESHIPPING:
            return [self._ship_replacement()]
        return self._compensations()

    def _acknowledge(self, compensation: Compensation, now: datetime) -> bool:
        if compensation not in self.pending:
            return False
        self.pending.discard(compensation)
        if self.status is Status.CANCELLING and not self.pending:
            self._move(Status.CANCELLING, Status.CANCELLED, now, self.cancel_reason)
            self._wait(None)
        return True

    def _needs_attention(self, reason: str, now: datetime, *, money: bool = True) -> None:
        self.status = Status.NEEDS_ATTENTION
        self.status_since = now
        self.changes.append(StatusChange(Status.NEEDS_ATTENTION, now, reason))
        self._wait(None)
        self.messages.append(
            OrderNeedsAttention(
                **self._public(now), reason=reason, amount=self.total if money else None
            )
        )

    def _reserve_stock(self) -> ReserveStock:
        return ReserveStock(
            order_id=self.order_id,
            lines=[StockLine(sku=line.sku, quantity=line.quantity) for line in self.lines],
            ship_to=self._ship_to(),
        )

    def _capture_payment(self) -> CapturePayment:
        return CapturePayment(order_id=self.order_id, amount=self.total, payment=self.payment)

    def _ship_order(self) -> ShipOrder:
        return ShipOrder(order_id=self.order_id, ship_to=self._ship_to())

    def _ship_replacement(self) -> ShipReplacement:
        assert self.replacement_id is not None
        return ShipReplacement(
            order_id=self.order_id,
            replacement_id=self.replacement_id,
            lines=[StockLine(sku=line.sku, quantity=line.quantity) for line in self.lines],
            reason=f"order {self.order_number}: replacement of goods lost or damaged in transit",
            ship_to=self._ship_to(),
        )

    def _ship_to(self) -> Address:
        if self.shipping_address is None:
            # Erasure waits for a customer's orders to end, so a live saga never gets here.
            raise OrderStateError(
                f"order {self.order_number}: the customer's personal data was erased, so"
                " there is no address to ship to"
            )
        return self.shipping_address

    def _wait(self, until: datetime | None) -> None:
        self.deadline_at = until
        self.resends = 0

    def _move(self, expected: Status, to: Status, now: datetime, reason: str | None = None) -> bool:
        if self.status is not expected:
            return False
        self.status = to
        self.status_since = now
        self.changes.append(StatusChange(to, now, reason))
        return True

    def _public(self, now: datetime) -> _Public:
        return _Public(
            order_id=self.order_id,
            order_number=self.order_number,
            customer_id=self.customer_id,
            occurred_at=now,
        )


#: How a claim's refund is named to the payment service (``claim:<claim id>``, and
#: ``claim:<claim id>#<n>`` when an operator asks again after the payment service gave up).
CLAIM_REFUND_PREFIX = "claim:"


def claim_refund_id(claim_id: UUID) -> str:
    return f"{CLAIM_REFUND_PREFIX}{claim_id}"


def _next_refund_id(order_id: UUID, current: str) -> str:
    if current.startswith(CLAIM_REFUND_PREFIX):
        claim, _, asked = current.partition("#")
        return f"{claim}#{int(asked or 1) + 1}"
    base = f"{order_id}:cancel"
    tries = int(current.rsplit(":", 1)[1]) if current.count(":") > 1 else 1
    return f"{base}:{tries + 1}"


class _Public(TypedDict):
    """The fields every public lifecycle event carries."""

    order_id: UUID
    order_number: str
    customer_id: str
    occurred_at: datetime
