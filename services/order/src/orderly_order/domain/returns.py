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

An exchange is a return whose customer gets other goods (``replacement``, each line at
a price: the order's for its own SKUs, support's quote for others) instead of money. Its
replacement ships as a replacement shipment (ShipReplacement) at approval or once the
goods are received, as policy says (``ReturnPolicy.exchange_ships``); a price difference
the customer owes is charged first (ChargePayment), one in their favour refunded when the
return settles. A replacement that cannot be reserved, or a difference that cannot be
charged, turns the exchange into a refund (anything charged is refunded with it). The
return settles once the goods are received and the replacement is shipped or given up.

A return collects the messages its decisions cause, as the order does; the use cases
publish them through the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Literal, TypedDict, get_args
from uuid import UUID, uuid5

from orderly_order.domain.order import Order, Status
from orderly_schemas.base import Message, Money, OrderLine, StockLine
from orderly_schemas.inventory import (
    BookReturnParcel,
    ReturnLine,
    ReturnParcelBooked,
    ReturnRestocked,
    ShipReplacement,
    TrackingStatus,
)
from orderly_schemas.payment import ChargePayment, RefundPayment
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
    ReturnReplacementShipped,
    ReturnReplacementUnavailable,
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
#: How an exchange's price difference is named to the payment service.
CHARGE_PREFIX: Final = "exchange:"
#: When an exchange's replacement ships: at approval (the customer waits less; the goods
#: are trusted to come back) or once the returned goods are received (nothing is risked).
ExchangeShips = Literal["on_approval", "on_receipt"]


class ReplacementState(StrEnum):
    """Where an exchange's replacement stands."""

    CHARGING = "charging"  # the price difference asked of the payment service
    SHIPPING = "shipping"  # ShipReplacement asked of inventory
    SHIPPED = "shipped"
    UNAVAILABLE = "unavailable"  # not reserved, or the difference not charged: a refund


class ReturnStatus(StrEnum):
    """Where a return stands."""

    REQUESTED = "requested"  # waiting for support's decision
    APPROVED = "approved"  # a return parcel asked of inventory
    LABEL_ISSUED = "label_issued"  # waiting for the customer to hand the goods over
    IN_TRANSIT = "in_transit"
    ARRIVED = "arrived"  # at the warehouse, waiting for inspection
    REPLACING = "replacing"  # received; an exchange's replacement still being charged or shipped
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
    exchange_ships: ExchangeShips = "on_receipt"

    def approves(self, reason: str, value: Money, replacement: int = 0) -> bool:
        """Whether a return for ``reason`` worth ``value`` is approved without support; an
        exchange only if its replacement (minor units) costs no more than the goods."""
        return (
            reason in self.auto_approve_reasons
            and value.amount <= self.auto_approve_max_amount
            and replacement <= value.amount
        )


@dataclass(frozen=True)
class Settling:
    """What a step that may settle a return works with: its order (held by the caller), what
    the order's other returns refunded or are refunding (minor units), the time, the policy."""

    order: Order
    refunded_before: int
    now: datetime
    policy: ReturnPolicy


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
    #: An exchange's new goods, each at its price, and where their shipment stands.
    replacement: list[OrderLine] = field(default_factory=list)
    replacement_state: ReplacementState | None = None
    replacement_carrier: str | None = None
    replacement_tracking: list[str] = field(default_factory=list)
    #: The price difference charged (minor units; the charge's id once asked for).
    charge_id: str | None = None
    charged: int = 0
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
        resolution: Resolution = "refund",
        replacement: Sequence[ReplacementAsked] = (),
        may_price: bool = False,
    ) -> Return:
        """A return of ``lines`` of ``order``, approved at once if the rules approve it;
        with ``resolution`` 'exchange', for the goods ``replacement`` lists.

        ``in_other_returns``: units per SKU in the order's returns that were not rejected.
        ``may_price``: the caller may quote the price of replacement goods (support).
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
        priced = _priced_replacement(order, resolution, replacement, may_price=may_price)
        returned = cls(
            return_id=return_id,
            return_number=return_number,
            order_id=order.order_id,
            order_number=order.order_number,
            customer_id=order.customer_id,
            lines=list(lines),
            reason=reason,
            reason_text=reason_text,
            resolution=resolution,
            status=ReturnStatus.REQUESTED,
            requested_by=requested_by,
            requested_at=now,
            replacement=priced,
        )
        returned.changes.append(ReturnChange(ReturnStatus.REQUESTED, now, None))
        returned.messages.append(ReturnRequested(**returned._announced(now)))
        if policy.approves(reason, value_of(order, lines), returned.replacement_value):
            returned.approve(by=RULE, now=now, policy=policy, order=order)
        return returned

    @property
    def exchange(self) -> bool:
        return self.resolution == "exchange"

    @property
    def replacement_value(self) -> int:
        """What the replacement costs, in minor units of the order's currency."""
        return sum(line.unit_price.amount * line.quantity for line in self.replacement)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def approve(self, *, by: str, now: datetime, policy: ReturnPolicy, order: Order) -> bool:
        """Approve a requested return and ask inventory for its parcel (and, for an exchange
        whose replacement ships at approval, start the replacement); approving an approved
        one changes nothing (False)."""
        if self.status is ReturnStatus.APPROVED:
            return False
        self._decide(ReturnStatus.APPROVED, by, now)
        self.messages.append(ReturnApproved(**self._announced(now), approved_by=by))
        self._book_parcel(now, policy)
        if self.exchange and policy.exchange_ships == "on_approval":
            self._start_replacement(order, value_of_average(order, self.lines), now)
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
        if self.exchange and self.replacement_state is None:  # it ships on receipt
            self._start_replacement(order, credit_of(self, order), now)
        if self.replacement_state in (ReplacementState.CHARGING, ReplacementState.SHIPPING):
            self._move(ReturnStatus.REPLACING, until=now + self._patience(policy), now=now)
            return True
        self._settle(Settling(order, refunded_before, now, policy))
        return True

    # -- an exchange's replacement --------------------------------------------------------
    def replacement_charged(
        self,
        charge_id: str,
        amount: Money,
        at: Settling,
    ) -> bool:
        """The price difference was charged: the replacement is asked of inventory."""
        if charge_id != self.charge_id or self.replacement_state is not ReplacementState.CHARGING:
            return False
        self.charged = amount.amount
        self._ship_replacement(at.order, at.now)
        self._after_replacement_step(at)
        return True

    def charge_failed(
        self,
        charge_id: str,
        reason: str,
        at: Settling,
    ) -> bool:
        if charge_id != self.charge_id or self.replacement_state is not ReplacementState.CHARGING:
            return False
        why = f"the price difference could not be charged: {reason}"
        self._replacement_unavailable(why, at.now)
        self._after_replacement_step(at)
        return True

    def replacement_shipped(
        self,
        replacement_id: UUID,
        carrier: str,
        tracking_numbers: list[str],
        at: Settling,
    ) -> bool:
        if replacement_id != self.replacement_id or (
            self.replacement_state is not ReplacementState.SHIPPING
        ):
            return False
        self.replacement_state = ReplacementState.SHIPPED
        self.replacement_carrier = carrier
        self.replacement_tracking = list(tracking_numbers)
        self.messages.append(
            ReturnReplacementShipped(
                **self._announced(at.now),
                replacement_id=replacement_id,
                carrier=carrier,
                tracking_numbers=self.replacement_tracking,
            )
        )
        self._after_replacement_step(at)
        return True

    def replacement_refused(
        self,
        replacement_id: UUID,
        reason: str,
        at: Settling,
    ) -> bool:
        if replacement_id != self.replacement_id or (
            self.replacement_state is not ReplacementState.SHIPPING
        ):
            return False
        self._replacement_unavailable(f"the replacement could not be sent: {reason}", at.now)
        self._after_replacement_step(at)
        return True

    @property
    def replacement_id(self) -> UUID | None:
        """The replacement shipment's id: one per return, the same however often asked."""
        if self.replacement_state is None:
            return None
        return uuid5(self.return_id, "replacement")

    def _start_replacement(self, order: Order, credit: int, now: datetime) -> None:
        """Charge what the replacement costs beyond ``credit``, else ship it at once."""
        owed = self.replacement_value - credit
        if owed > 0:
            self.replacement_state = ReplacementState.CHARGING
            self.charge_id = f"{CHARGE_PREFIX}{self.return_id}"
            self.messages.append(self._charge_command(order, owed))
        else:
            self._ship_replacement(order, now)

    def _ship_replacement(self, order: Order, now: datetime) -> None:
        if order.shipping_address is None:
            self._replacement_unavailable("the customer's address was erased", now)
            return
        self.replacement_state = ReplacementState.SHIPPING
        self.messages.append(self._ship_replacement_command(order))

    def _replacement_unavailable(self, reason: str, now: datetime) -> None:
        self.replacement_state = ReplacementState.UNAVAILABLE
        self.resolution = "refund"
        self.messages.append(
            ReturnReplacementUnavailable(**self._announced(now), unavailable_reason=reason)
        )

    def _after_replacement_step(self, at: Settling) -> None:
        """Settle a return that waited for its replacement; else wait on for the next step."""
        if not self._at_or_stuck_at(ReturnStatus.REPLACING):
            return
        if self.replacement_state in (ReplacementState.SHIPPED, ReplacementState.UNAVAILABLE):
            self._settle(at)
        else:
            patience = self._patience(at.policy)
            self._move(ReturnStatus.REPLACING, until=at.now + patience, now=at.now)

    def _settle(self, at: Settling) -> None:
        """The goods are in and any replacement is shipped or given up: refund what is due."""
        self.refund = refund_of(
            self, at.order, policy=at.policy, refunded_before=at.refunded_before
        )
        if self.refund.amount.amount == 0:
            self._complete(at.now)
            return
        self.refund_id = f"{REFUND_PREFIX}{self.return_id}"
        self._move(ReturnStatus.REFUNDING, until=at.now + at.policy.refund, now=at.now)
        self.messages.append(self._refund_command())

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

    def deadline_passed(
        self,
        now: datetime,
        policy: ReturnPolicy,
        *,
        queued: bool = False,
        order: Order | None = None,
    ) -> bool:
        """Act on a wait that ran out; ``queued``: the command is still in a queue, so it is
        waited for again, never sent again (a long queue is not an unanswered command).
        ``order``: the return's order, to send a replacement's command again (REPLACING)."""
        if self.deadline_at is None or now < self.deadline_at:
            return False
        if self.status in AWAITS_COMMANDS:
            patience = self._patience(policy)
            if queued:
                self._wait(now + patience)
            elif self.resends < policy.max_resends:
                self.resends += 1
                self._wait(now + patience)
                self.messages.append(self._current_command(order))
            else:
                step = _STEP_NAMES[self.status]
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

    def retry(self, now: datetime, policy: ReturnPolicy, order: Order | None = None) -> bool:
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
        elif step is ReturnStatus.REPLACING:
            self._move(ReturnStatus.REPLACING, until=now + self._patience(policy), now=now)
            self.messages.append(self._current_command(order))
        else:
            wait = policy.inspection if step is ReturnStatus.ARRIVED else policy.transit
            self._move(step, until=now + wait, now=now)
        return True

    def _book_parcel(self, now: datetime, policy: ReturnPolicy) -> None:
        self._move(ReturnStatus.APPROVED, until=now + policy.reply, now=now)
        self.messages.append(self._current_command())

    def _patience(self, policy: ReturnPolicy) -> timedelta:
        """How long the current command may go unanswered: a refund or a charge as long as
        the payment service's retries, anything else a reply's time."""
        slow = self.status is ReturnStatus.REFUNDING or (
            self.status is ReturnStatus.REPLACING
            and self.replacement_state is ReplacementState.CHARGING
        )
        return policy.refund if slow else policy.reply

    def _current_command(self, order: Order | None = None) -> Message:
        if self.status is ReturnStatus.REFUNDING:
            return self._refund_command()
        if self.status is ReturnStatus.REPLACING:
            if order is None:
                raise ValueError("a replacement's command is sent again with its order")
            if self.replacement_state is ReplacementState.CHARGING:
                return self._charge_command(order, self.replacement_value - credit_of(self, order))
            return self._ship_replacement_command(order)
        return BookReturnParcel(order_id=self.order_id, return_id=self.return_id, lines=self.lines)

    def _charge_command(self, order: Order, amount: int) -> ChargePayment:
        assert self.charge_id is not None
        return ChargePayment(
            order_id=self.order_id,
            charge_id=self.charge_id,
            amount=Money(amount=amount, currency=order.total.currency),
            payment=order.payment,
            reason=f"exchange {self.return_number} of order {self.order_number}: price difference",
        )

    def _ship_replacement_command(self, order: Order) -> ShipReplacement:
        return ShipReplacement(
            order_id=self.order_id,
            replacement_id=uuid5(self.return_id, "replacement"),
            lines=[StockLine(sku=line.sku, quantity=line.quantity) for line in self.replacement],
            reason=f"exchange {self.return_number} of order {self.order_number}",
            ship_to=order.shipping_address,
        )

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
        charged = Money(amount=self.charged, currency=self.refund.amount.currency)
        self.messages.append(
            ReturnCompleted(
                **self._announced(now),
                refunded=self.refund.amount,
                restocking_fee=self.refund.fee,
                refund_id=self.refund_id if self.refund.amount.amount else None,
                charged=charged if self.charged else None,
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
            replacement=[
                StockLine(sku=line.sku, quantity=line.quantity) for line in self.replacement
            ],
            occurred_at=now,
        )


#: The states that wait for an answer to a command, and what each waits for.
_STEP_NAMES: Final = {
    ReturnStatus.APPROVED: "return parcel",
    ReturnStatus.REPLACING: "replacement",
    ReturnStatus.REFUNDING: "refund",
}
AWAITS_COMMANDS: Final = frozenset(_STEP_NAMES)


@dataclass(frozen=True)
class ReplacementAsked:
    """A line of the goods an exchange asks for; its price only when support quotes it."""

    sku: str
    quantity: int
    unit_price: Money | None = None


def is_exchange_charge(charge_id: str) -> bool:
    return charge_id.startswith(CHARGE_PREFIX)


def return_of_charge(charge_id: str) -> UUID:
    """The return an exchange's charge id names (``exchange:<id>``)."""
    return UUID(charge_id.removeprefix(CHARGE_PREFIX))


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

    An exchange charges no fee (the customer buys again): its replacement shipped, it
    refunds what the goods are worth beyond the replacement, less what was charged for it
    (nothing if they are worth less: the difference was charged before it shipped); given
    up, it refunds the goods and anything charged.
    """
    gross = credit_of(returned, order)
    ours = returned.reason in OUR_FAULT
    fee = (
        0
        if ours or returned.exchange or returned.replacement_state
        else (gross * policy.restocking_fee_percent // 100)
    )
    due = gross - fee
    if returned.replacement_state is ReplacementState.SHIPPED:
        due = max(gross + returned.charged - returned.replacement_value, 0)
    elif returned.replacement_state is ReplacementState.UNAVAILABLE:
        due = gross + returned.charged
    left = max(order.total.amount + returned.charged - refunded_before, 0)
    currency = order.total.currency
    return Refund(
        amount=Money(amount=min(due, left), currency=currency),
        fee=Money(amount=fee, currency=currency),
    )


def credit_of(returned: Return, order: Order) -> int:
    """What the goods received back are worth (minor units): per SKU the units received up
    to the units asked for — resellable ones, and damaged ones too when the fault was ours
    — each at what the order paid for its SKU on average, rounded down."""
    ours = returned.reason in OUR_FAULT
    asked = {line.sku: line.quantity for line in returned.lines}
    accepted: dict[str, int] = {}
    for line in returned.received:
        if line.sku in asked and (line.condition == "resellable" or ours):
            accepted[line.sku] = accepted.get(line.sku, 0) + line.quantity
    paid, units = _paid_per_sku(order)
    return sum(
        paid[sku] * min(n, asked[sku]) // units[sku] for sku, n in accepted.items() if sku in paid
    )


def value_of_average(order: Order, lines: Sequence[StockLine]) -> int:
    """What ``lines`` of ``order`` are worth at the order's average price per SKU."""
    paid, units = _paid_per_sku(order)
    return sum(paid[line.sku] * line.quantity // units[line.sku] for line in lines)


def _paid_per_sku(order: Order) -> tuple[dict[str, int], dict[str, int]]:
    paid: dict[str, int] = {}
    units: dict[str, int] = {}
    for ordered in order.lines:
        paid[ordered.sku] = paid.get(ordered.sku, 0) + ordered.unit_price.amount * ordered.quantity
        units[ordered.sku] = units.get(ordered.sku, 0) + ordered.quantity
    return paid, units


def _priced_replacement(
    order: Order,
    resolution: Resolution,
    asked: Sequence[ReplacementAsked],
    *,
    may_price: bool,
) -> list[OrderLine]:
    """An exchange's replacement, each line at its price: support's quote, or what the order
    paid for its SKU on average. Raises InvalidReturnError naming the field at fault."""
    if resolution != "exchange":
        if asked:
            raise InvalidReturnError(
                ("replacement",), "only an exchange (resolution 'exchange') lists a replacement"
            )
        return []
    if not asked:
        raise InvalidReturnError(("replacement",), "an exchange needs at least one line")
    paid, units = _paid_per_sku(order)
    currency = order.total.currency
    priced: list[OrderLine] = []
    seen: set[str] = set()
    for i, line in enumerate(asked):
        if line.sku in seen:
            raise InvalidReturnError(
                ("replacement", i, "sku"),
                f"sku {line.sku!r} appears more than once; give one line per SKU",
                value=line.sku,
            )
        seen.add(line.sku)
        if line.unit_price is not None:
            if not may_price:
                raise InvalidReturnError(
                    ("replacement", i, "unit_price"),
                    "only support quotes the price of replacement goods",
                )
            if line.unit_price.currency != currency:
                raise InvalidReturnError(
                    ("replacement", i, "unit_price", "currency"),
                    f"must be the order's currency, {currency}",
                    value=line.unit_price.currency,
                )
            price = line.unit_price
        elif line.sku in paid:
            price = Money(amount=paid[line.sku] // units[line.sku], currency=currency)
        else:
            raise InvalidReturnError(
                ("replacement", i, "unit_price"),
                f"order {order.order_number} has no line of sku {line.sku!r}, so its price is"
                " unknown: support quotes it",
                value=line.sku,
            )
        priced.append(OrderLine(sku=line.sku, quantity=line.quantity, unit_price=price))
    return priced


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
    replacement: list[StockLine]
    occurred_at: datetime
