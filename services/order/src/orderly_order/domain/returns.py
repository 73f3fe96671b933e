"""Returns of delivered orders as a saga of their own (no I/O).

requested → approved (by rule, or support) or rejected → a return parcel booked
(BookReturnParcel → the label) → in transit → arrived → received (inspected at the
warehouse: ReturnRestocked) → refunding (RefundPayment) → completed. A label never used
expires the return; a step that keeps failing leaves it needing attention, where support
or finance retries it. Every waiting state has a deadline (``deadline_at``), as the
order's saga does; a command still queued is not re-sent.

A return is requested for lines of a delivered (or completed) order, within the return
window after its delivery, for at most the units delivered less those already in the
order's returns that were not rejected. The caller counts those with the order's row
locked (``adapters/returns.py``), so two requests for the same units never both pass.
Damaged or wrong goods worth no more than a threshold are approved at once, by rule;
any other return waits for support to approve or reject it (rejecting says why).

A return collects the messages its decisions cause, as the order does; the use cases
publish them through the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, TypedDict, get_args
from uuid import UUID

from orderly_order.domain.order import Order, Status
from orderly_schemas.base import Message, Money, StockLine
from orderly_schemas.inventory import (
    BookReturnParcel,
    ReturnLine,
    ReturnParcelBooked,
    ReturnRestocked,
    TrackingStatus,
)
from orderly_schemas.payment import RefundPayment
from orderly_schemas.returns import (
    Resolution,
    ReturnApproved,
    ReturnCompleted,
    ReturnExpired,
    ReturnLabelIssued,
    ReturnNeedsAttention,
    ReturnReason,
    ReturnReceived,
    ReturnRejected,
    ReturnRequested,
)

REASONS: Final[tuple[str, ...]] = get_args(ReturnReason)
#: Who approved a return the rules approved.
RULE: Final = "rule"
#: The order states whose goods have reached the customer.
RETURNABLE: Final = frozenset({Status.DELIVERED, Status.COMPLETED})
#: Reasons that are the seller's fault: no restocking fee, and goods that come back
#: damaged are refunded too (they were damaged or wrong when they came).
OUR_FAULT: Final = frozenset({"damaged", "wrong_item", "not_as_described"})
#: How the refund of a return is named to the payment service.
REFUND_PREFIX: Final = "return:"


class ReturnStatus(StrEnum):
    """Where a return stands."""

    REQUESTED = "requested"  # waiting for support's decision
    APPROVED = "approved"  # a return parcel asked of inventory
    LABEL_ISSUED = "label_issued"  # waiting for the customer to hand the goods over
    IN_TRANSIT = "in_transit"
    ARRIVED = "arrived"  # at the warehouse, waiting for inspection
    REFUNDING = "refunding"
    COMPLETED = "completed"
    REJECTED = "rejected"
    EXPIRED = "expired"  # the label was never used
    NEEDS_ATTENTION = "needs_attention"


#: The states a return ends in.
FINAL: Final = frozenset({ReturnStatus.COMPLETED, ReturnStatus.REJECTED, ReturnStatus.EXPIRED})
#: The states in which the goods may still come back (an expired label may be used late).
GOODS_AWAITED: Final = frozenset(
    {
        ReturnStatus.APPROVED,
        ReturnStatus.LABEL_ISSUED,
        ReturnStatus.IN_TRANSIT,
        ReturnStatus.ARRIVED,
        ReturnStatus.EXPIRED,
    }
)


class ReturnError(Exception):
    """A return request or decision that cannot be carried out; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidReturnError(ReturnError, ValueError):
    """A field of the request breaks a rule; ``loc`` is its path in the request body and
    ``value`` what the request gave there."""

    def __init__(self, loc: tuple[str | int, ...], message: str, *, value: object = None) -> None:
        super().__init__(message)
        self.loc = loc
        self.value = value


class OrderNotReturnableError(ReturnError):
    """The order's goods have not reached the customer (or the order ended without them)."""


class ReturnWindowClosedError(ReturnError):
    """The return window after the order's delivery has passed."""


class ReturnStateError(ReturnError):
    """A decision the return's current status does not allow."""


@dataclass(frozen=True)
class ReturnPolicy:
    """How long after delivery goods may be returned, which returns the rules approve, what
    a return refunds, and how long each step of its saga may take."""

    window: timedelta = timedelta(days=30)
    #: The most a return approved by rule may be worth, in minor units of the order's currency.
    auto_approve_max_amount: int = 5000
    auto_approve_reasons: frozenset[str] = frozenset({"damaged", "wrong_item"})
    #: Kept of the refund of goods returned for a reason of the customer's (percent).
    restocking_fee_percent: int = 10
    #: How long inventory may take to answer BookReturnParcel before it is sent again.
    reply: timedelta = timedelta(seconds=60)
    #: Re-sends of an unanswered command before the return needs attention.
    max_resends: int = 3
    #: How long the payment service may take over a refund (it answers when its retries end).
    refund: timedelta = timedelta(minutes=30)
    #: How long a label may go unused before the return expires.
    label_valid: timedelta = timedelta(days=14)
    #: How long a parcel may travel, and then wait at the warehouse, before someone looks.
    transit: timedelta = timedelta(days=14)
    inspection: timedelta = timedelta(days=3)

    def approves(self, reason: str, value: Money) -> bool:
        """Whether a return for ``reason`` worth ``value`` is approved without support."""
        return reason in self.auto_approve_reasons and value.amount <= self.auto_approve_max_amount


@dataclass
class ReturnChange:
    """One step of a return's history: the status it moved to, when, and why."""

    status: ReturnStatus
    at: datetime
    reason: str | None


@dataclass(frozen=True)
class Refund:
    """What a received return gives back: ``amount`` after ``fee``, in the order's currency."""

    amount: Money
    fee: Money


@dataclass
class Return:
    return_id: UUID
    return_number: str
    order_id: UUID
    order_number: str
    customer_id: str
    lines: list[StockLine]
    reason: ReturnReason
    reason_text: str | None
    resolution: Resolution
    status: ReturnStatus
    #: Who asked: the customer's or the support agent's subject.
    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    rejection_reason: str | None = None
    #: The return parcel: where the goods go back to, with whom, and until when.
    warehouse: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    label_expires_at: datetime | None = None
    #: What the warehouse found in the parcel.
    received: list[ReturnLine] = field(default_factory=list)
    received_at: datetime | None = None
    refund_id: str | None = None
    refund: Refund | None = None
    completed_at: datetime | None = None
    #: Why it expired, or why it needs attention (and the step it was at: retry resumes it).
    closing_reason: str | None = None
    attention_step: ReturnStatus | None = None
    #: When the current wait runs out, and how often its command was sent again.
    deadline_at: datetime | None = None
    resends: int = 0
    #: Status changes since it was loaded (the adapter appends them to its history).
    changes: list[ReturnChange] = field(default_factory=list)
    #: Messages its decisions caused since it was loaded.
    messages: list[Message] = field(default_factory=list)

    @classmethod
    def request(
        cls,
        order: Order,
        *,
        return_id: UUID,
        return_number: str,
        lines: Sequence[StockLine],
        reason: ReturnReason,
        reason_text: str | None,
        requested_by: str,
        in_other_returns: Mapping[str, int],
        policy: ReturnPolicy,
        now: datetime,
    ) -> Return:
        """A return of ``lines`` of ``order``, approved at once if the rules approve it.

        ``in_other_returns``: units per SKU in the order's returns that were not rejected.
        Raises OrderNotReturnableError, ReturnWindowClosedError or InvalidReturnError.
        """
        _check_returnable(order, policy, now)
        if reason not in REASONS:
            raise InvalidReturnError(
                ("reason",), f"must be one of: {', '.join(REASONS)}", value=reason
            )
        if reason == "other" and not (reason_text and reason_text.strip()):
            raise InvalidReturnError(
                ("reason_text",), "say why the goods are returned when the reason is 'other'"
            )
        _check_lines(order, lines, in_other_returns)
        returned = cls(
            return_id=return_id,
            return_number=return_number,
            order_id=order.order_id,
            order_number=order.order_number,
            customer_id=order.customer_id,
            lines=list(lines),
            reason=reason,
            reason_text=reason_text,
            resolution="refund",
            status=ReturnStatus.REQUESTED,
            requested_by=requested_by,
            requested_at=now,
        )
        returned.changes.append(ReturnChange(ReturnStatus.REQUESTED, now, None))
        returned.messages.append(ReturnRequested(**returned._announced(now)))
        if policy.approves(reason, value_of(order, lines)):
            returned.approve(by=RULE, now=now, policy=policy)
        return returned

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def approve(self, *, by: str, now: datetime, policy: ReturnPolicy) -> bool:
        """Approve a requested return and ask inventory for its parcel; approving an
        approved one changes nothing (False)."""
        if self.status is ReturnStatus.APPROVED:
            return False
        self._decide(ReturnStatus.APPROVED, by, now)
        self.messages.append(ReturnApproved(**self._announced(now), approved_by=by))
        self._book_parcel(now, policy)
        return True

    def reject(self, *, by: str, reason: str, now: datetime) -> bool:
        """Refuse a requested return, saying why; rejecting a rejected one changes nothing."""
        if self.status is ReturnStatus.REJECTED:
            return False
        self._decide(ReturnStatus.REJECTED, by, now)
        self.rejection_reason = self.changes[-1].reason = reason
        self.messages.append(
            ReturnRejected(**self._announced(now), rejected_by=by, rejection_reason=reason)
        )
        return True

    def parcel_booked(self, event: ReturnParcelBooked, now: datetime, policy: ReturnPolicy) -> bool:
        """Inventory booked the return parcel: the customer gets its label, which expires."""
        if not self._at_or_stuck_at(ReturnStatus.APPROVED):
            return False
        self.warehouse, self.carrier = event.warehouse, event.carrier
        self.tracking_number = event.tracking_number
        self.label_expires_at = now + policy.label_valid
        self._move(ReturnStatus.LABEL_ISSUED, until=self.label_expires_at, now=now)
        self.messages.append(
            ReturnLabelIssued(
                **self._announced(now),
                carrier=event.carrier,
                tracking_number=event.tracking_number,
                warehouse=event.warehouse,
                expires_at=self.label_expires_at,
            )
        )
        return True

    def parcel_refused(self, reason: str, now: datetime) -> bool:
        """No return parcel can be booked: support must arrange the return."""
        if not self._at(ReturnStatus.APPROVED):
            return False
        self._needs_attention(f"no return parcel could be booked: {reason}", now)
        return True

    def parcel_tracked(
        self, status: TrackingStatus, detail: str | None, now: datetime, policy: ReturnPolicy
    ) -> bool:
        """The carrier reported the return parcel's progress."""
        if status == "failed":
            if not self._at(ReturnStatus.LABEL_ISSUED, ReturnStatus.IN_TRANSIT):
                return False
            self._needs_attention(
                f"the return parcel failed in transit: {detail or 'no detail'}", now
            )
            return True
        if status == "delivered":
            waiting = (ReturnStatus.LABEL_ISSUED, ReturnStatus.IN_TRANSIT, ReturnStatus.EXPIRED)
            if not self._at_or_stuck_at(*waiting):
                return False
            self._move(ReturnStatus.ARRIVED, until=now + policy.inspection, now=now)
            return True
        # On its way: a label used after it expired still brings the goods back.
        if not self._at(ReturnStatus.LABEL_ISSUED, ReturnStatus.EXPIRED):
            return False
        self._move(ReturnStatus.IN_TRANSIT, until=now + policy.transit, now=now)
        return True

    def received_back(
        self,
        event: ReturnRestocked,
        *,
        order: Order,
        refunded_before: int,
        now: datetime,
        policy: ReturnPolicy,
    ) -> bool:
        """The warehouse inspected the goods (restocked or wrote them off): refund what
        qualifies, never more than the order's capture less what its other returns got.

        ``refunded_before``: minor units refunded, or being refunded, by the order's other
        returns. Answered once; a repeat of the inspection changes nothing.
        """
        if self.received or not self._at_or_stuck_at(*GOODS_AWAITED):
            return False
        self.received = list(event.lines)
        self.received_at = now
        self.warehouse = event.warehouse
        self.messages.append(
            ReturnReceived(**self._announced(now), warehouse=event.warehouse, received=event.lines)
        )
        self.refund = refund_of(self, order, policy=policy, refunded_before=refunded_before)
        if self.refund.amount.amount == 0:
            self._complete(now)
            return True
        self.refund_id = f"{REFUND_PREFIX}{self.return_id}"
        self._move(ReturnStatus.REFUNDING, until=now + policy.refund, now=now)
        self.messages.append(self._refund_command())
        return True

    def refund_settled(self, refund_id: str, now: datetime) -> bool:
        """The payment service refunded the return."""
        if refund_id != self.refund_id or not self._at_or_stuck_at(ReturnStatus.REFUNDING):
            return False
        self._complete(now)
        return True

    def refund_failed(self, refund_id: str, reason: str, attempts: int, now: datetime) -> bool:
        """The payment service gave up on the refund: finance must act."""
        if refund_id != self.refund_id or not self._at(ReturnStatus.REFUNDING):
            return False
        self._needs_attention(f"refund failed after {attempts} attempt(s): {reason}", now)
        return True

    def deadline_passed(self, now: datetime, policy: ReturnPolicy, *, queued: bool = False) -> bool:
        """Act on a wait that ran out; ``queued``: the command is still in a queue, so it is
        waited for again, never sent again (a long queue is not an unanswered command)."""
        if self.deadline_at is None or now < self.deadline_at:
            return False
        if self.status in (ReturnStatus.APPROVED, ReturnStatus.REFUNDING):
            patience = policy.reply if self.status is ReturnStatus.APPROVED else policy.refund
            if queued:
                self._wait(now + patience)
            elif self.resends < policy.max_resends:
                self.resends += 1
                self._wait(now + patience)
                self.messages.append(self._current_command())
            else:
                step = "return parcel" if self.status is ReturnStatus.APPROVED else "refund"
                self._needs_attention(
                    f"no answer to the {step} after {self.resends + 1} attempt(s)", now
                )
        elif self.status is ReturnStatus.LABEL_ISSUED:
            why = f"the label was not used within {_days(policy.label_valid)}"
            self._move(ReturnStatus.EXPIRED, until=None, now=now, reason=why)
            self.closing_reason = why
            self.messages.append(
                ReturnExpired(**self._announced(now), expired_reason=self.closing_reason)
            )
        elif self.status is ReturnStatus.IN_TRANSIT:
            self._needs_attention(
                f"the return parcel has not arrived {_days(policy.transit)} after it was sent", now
            )
        elif self.status is ReturnStatus.ARRIVED:
            self._needs_attention(
                f"the goods arrived and were not inspected within {_days(policy.inspection)}", now
            )
        else:
            self._wait(None)
        return True

    def retry(self, now: datetime, policy: ReturnPolicy) -> bool:
        """Support or finance resumes a return that needs attention at the step it stopped:
        the parcel asked for again, the refund asked for again (under a new refund id, as
        the payment service gave up on the old one for good), or the goods awaited again."""
        step = self.attention_step
        if self.status is not ReturnStatus.NEEDS_ATTENTION or step is None:
            raise ReturnStateError(
                f"return {self.return_number} is {self.status.value}; only a return that needs"
                " attention can be retried"
            )
        self.closing_reason = self.attention_step = None
        self.resends = 0
        if step is ReturnStatus.APPROVED:
            self._book_parcel(now, policy)
        elif step is ReturnStatus.REFUNDING:
            assert self.refund_id is not None
            self.refund_id = _next_refund_id(self.refund_id)
            self._move(ReturnStatus.REFUNDING, until=now + policy.refund, now=now)
            self.messages.append(self._refund_command())
        else:
            wait = policy.inspection if step is ReturnStatus.ARRIVED else policy.transit
            self._move(step, until=now + wait, now=now)
        return True

    def _book_parcel(self, now: datetime, policy: ReturnPolicy) -> None:
        self._move(ReturnStatus.APPROVED, until=now + policy.reply, now=now)
        self.messages.append(self._current_command())

    def _current_command(self) -> Message:
        if self.status is ReturnStatus.REFUNDING:
            return self._refund_command()
        return BookReturnParcel(order_id=self.order_id, return_id=self.return_id, lines=self.lines)

    def _refund_command(self) -> RefundPayment:
        assert self.refund is not None
        assert self.refund_id is not None
        return RefundPayment(
            order_id=self.order_id,
            refund_id=self.refund_id,
            amount=self.refund.amount,
            reason=f"return {self.return_number} of order {self.order_number}",
        )

    def _complete(self, now: datetime) -> None:
        assert self.refund is not None
        self.completed_at = now
        self._move(ReturnStatus.COMPLETED, until=None, now=now)
        self.messages.append(
            ReturnCompleted(
                **self._announced(now),
                refunded=self.refund.amount,
                restocking_fee=self.refund.fee,
                refund_id=self.refund_id if self.refund.amount.amount else None,
            )
        )

    def _needs_attention(self, reason: str, now: datetime) -> None:
        self.attention_step = self.status
        self.closing_reason = reason
        self._move(ReturnStatus.NEEDS_ATTENTION, until=None, now=now, reason=reason)
        self.messages.append(ReturnNeedsAttention(**self._announced(now), attention_reason=reason))

    def _at(self, *states: ReturnStatus) -> bool:
        return self.status in states

    def _at_or_stuck_at(self, *steps: ReturnStatus) -> bool:
        """At one of ``steps``, or needing attention at one: a late answer still counts."""
        return self.status in steps or (
            self.status is ReturnStatus.NEEDS_ATTENTION and self.attention_step in steps
        )

    def _move(
        self, to: ReturnStatus, *, until: datetime | None, now: datetime, reason: str | None = None
    ) -> None:
        if to is not self.status:
            self.resends = 0
            self.changes.append(ReturnChange(to, now, reason))
        if to is not ReturnStatus.NEEDS_ATTENTION:
            self.closing_reason = self.attention_step = None
        self.status = to
        self._wait(until)

    def _wait(self, until: datetime | None) -> None:
        self.deadline_at = until

    def _decide(self, to: ReturnStatus, by: str, now: datetime) -> None:
        if self.status is not ReturnStatus.REQUESTED:
            raise ReturnStateError(
                f"return {self.return_number} is {self.status.value}; only a requested return"
                f" can be {to.value}"
            )
        self._move(to, until=None, now=now)
        self.decided_by = by
        self.decided_at = now

    def _announced(self, now: datetime) -> _Announced:
        return _Announced(
            return_id=self.return_id,
            return_number=self.return_number,
            order_id=self.order_id,
            order_number=self.order_number,
            customer_id=self.customer_id,
            lines=self.lines,
            reason=self.reason,
            reason_text=self.reason_text,
            resolution=self.resolution,
            occurred_at=now,
        )


def is_return_refund(refund_id: str) -> bool:
    """Whether a refund id names a return's refund (not the order's compensation)."""
    return refund_id.startswith(REFUND_PREFIX)


def return_of_refund(refund_id: str) -> UUID:
    """The return a return's refund id names (``return:<id>``, ``return:<id>#2`` on retry)."""
    return UUID(refund_id.removeprefix(REFUND_PREFIX).partition("#")[0])


def refund_of(
    returned: Return, order: Order, *, policy: ReturnPolicy, refunded_before: int
) -> Refund:
    """What ``returned`` refunds, given what the warehouse received.

    Per SKU, the units received up to the units the return asked for: resellable ones,
    and damaged ones too when the fault was ours (the goods came damaged or wrong). Each
    unit at what the order paid for its SKU on average (an order may list a SKU twice at
    two prices), rounded down; less the restocking fee when the reason is the customer's;
    and never more than the order's capture less ``refunded_before`` (its other returns).
    The order carries no shipping charge (its total is its lines), so none is refunded.
    """
    ours = returned.reason in OUR_FAULT
    asked = {line.sku: line.quantity for line in returned.lines}
    accepted: dict[str, int] = {}
    for line in returned.received:
        if line.sku in asked and (line.condition == "resellable" or ours):
            accepted[line.sku] = accepted.get(line.sku, 0) + line.quantity
    paid: dict[str, int] = {}
    units: dict[str, int] = {}
    for ordered in order.lines:
        paid[ordered.sku] = paid.get(ordered.sku, 0) + ordered.unit_price.amount * ordered.quantity
        units[ordered.sku] = units.get(ordered.sku, 0) + ordered.quantity
    gross = sum(
        paid[sku] * min(n, asked[sku]) // units[sku] for sku, n in accepted.items() if sku in paid
    )
    fee = 0 if ours else gross * policy.restocking_fee_percent // 100
    left = max(order.total.amount - refunded_before, 0)
    currency = order.total.currency
    return Refund(
        amount=Money(amount=min(gross - fee, left), currency=currency),
        fee=Money(amount=fee, currency=currency),
    )


def _next_refund_id(current: str) -> str:
    base, _, tries = current.partition("#")
    return f"{base}#{int(tries or 1) + 1}"


def _days(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:g} day(s)" if days >= 1 else f"{span.total_seconds():g} second(s)"


def value_of(order: Order, lines: Sequence[StockLine]) -> Money:
    """What ``lines`` of ``order`` cost the customer: each SKU at the highest price the
    order paid for it (an order may list a SKU twice), so splitting a line never brings
    a return under the rules' threshold."""
    prices: dict[str, int] = {}
    for line in order.lines:
        prices[line.sku] = max(prices.get(line.sku, 0), line.unit_price.amount)
    amount = sum(prices[line.sku] * line.quantity for line in lines)
    return Money(amount=amount, currency=order.total.currency)


def _check_returnable(order: Order, policy: ReturnPolicy, now: datetime) -> None:
    if order.status not in RETURNABLE or order.delivered_at is None:
        raise OrderNotReturnableError(
            f"order {order.order_number} is {order.status.value}; only goods of a delivered"
            " order can be returned"
        )
    closes = order.delivered_at + policy.window
    if now > closes:
        raise ReturnWindowClosedError(
            f"order {order.order_number} was delivered on {order.delivered_at:%Y-%m-%d}; its"
            f" return window of {policy.window.days} days closed on {closes:%Y-%m-%d}"
        )


def _check_lines(
    order: Order, lines: Sequence[StockLine], in_other_returns: Mapping[str, int]
) -> None:
    if not lines:
        raise InvalidReturnError(("lines",), "a return needs at least one line")
    delivered: dict[str, int] = {}
    for ordered in order.lines:
        delivered[ordered.sku] = delivered.get(ordered.sku, 0) + ordered.quantity
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if line.sku in seen:
            raise InvalidReturnError(
                ("lines", i, "sku"),
                f"sku {line.sku!r} appears more than once; give one line per SKU",
                value=line.sku,
            )
        seen.add(line.sku)
        if line.sku not in delivered:
            raise InvalidReturnError(
                ("lines", i, "sku"),
                f"order {order.order_number} has no line of sku {line.sku!r}",
                value=line.sku,
            )
        taken = in_other_returns.get(line.sku, 0)
        left = delivered[line.sku] - taken
        if line.quantity > left:
            raise InvalidReturnError(
                ("lines", i, "quantity"),
                f"at most {max(left, 0)} unit(s) of {line.sku} may be returned:"
                f" {delivered[line.sku]} delivered, {taken} in other returns",
                value=line.quantity,
            )


class _Announced(TypedDict):
    """The fields every return event carries."""

    return_id: UUID
    return_number: str
    order_id: UUID
    order_number: str
    customer_id: str
    lines: list[StockLine]
    reason: ReturnReason
    reason_text: str | None
    resolution: Resolution
    occurred_at: datetime
