"""Returns of delivered orders: what may be sent back, and who approves it (no I/O).

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
from orderly_schemas.returns import (
    Resolution,
    ReturnApproved,
    ReturnReason,
    ReturnRejected,
    ReturnRequested,
)

REASONS: Final[tuple[str, ...]] = get_args(ReturnReason)
#: Who approved a return the rules approved.
RULE: Final = "rule"
#: The order states whose goods have reached the customer.
RETURNABLE: Final = frozenset({Status.DELIVERED, Status.COMPLETED})


class ReturnStatus(StrEnum):
    """Where a return stands. The saga's later steps add theirs (a label issued, the goods
    received, the refund made, closed) after ``APPROVED``."""

    REQUESTED = "requested"  # waiting for support's decision
    APPROVED = "approved"
    REJECTED = "rejected"


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
    """How long after delivery goods may be returned, and which returns the rules approve."""

    window: timedelta = timedelta(days=30)
    #: The most a return approved by rule may be worth, in minor units of the order's currency.
    auto_approve_max_amount: int = 5000
    auto_approve_reasons: frozenset[str] = frozenset({"damaged", "wrong_item"})

    def approves(self, reason: str, value: Money) -> bool:
        """Whether a return for ``reason`` worth ``value`` is approved without support."""
        return reason in self.auto_approve_reasons and value.amount <= self.auto_approve_max_amount


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
        returned.messages.append(ReturnRequested(**returned._announced(now)))
        if policy.approves(reason, value_of(order, lines)):
            returned.approve(by=RULE, now=now)
        return returned

    def approve(self, *, by: str, now: datetime) -> bool:
        """Approve a requested return; approving an approved one changes nothing (False)."""
        if self.status is ReturnStatus.APPROVED:
            return False
        self._decide(ReturnStatus.APPROVED, by, now)
        self.messages.append(ReturnApproved(**self._announced(now), approved_by=by))
        return True

    def reject(self, *, by: str, reason: str, now: datetime) -> bool:
        """Refuse a requested return, saying why; rejecting a rejected one changes nothing."""
        if self.status is ReturnStatus.REJECTED:
            return False
        self._decide(ReturnStatus.REJECTED, by, now)
        self.rejection_reason = reason
        self.messages.append(
            ReturnRejected(**self._announced(now), rejected_by=by, rejection_reason=reason)
        )
        return True

    def _decide(self, to: ReturnStatus, by: str, now: datetime) -> None:
        if self.status is not ReturnStatus.REQUESTED:
            raise ReturnStateError(
                f"return {self.return_number} is {self.status.value}; only a requested return"
                f" can be {to.value}"
            )
        self.status = to
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
