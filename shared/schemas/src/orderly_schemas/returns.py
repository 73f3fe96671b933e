"""Returns of delivered orders on ``order.returns.v1``: every step of each return's saga.

requested → approved (by rule or support) or rejected → label issued (the carrier collects
the goods) → received (inspected at the warehouse, restocked or written off) → completed
(refunded); or expired (the label was never used), or needs attention (a step that keeps
failing: support or finance must act).

The order service runs each return as a saga of its own on a delivered order and
announces every step here, keyed by the order id, so that one order's returns and its
lifecycle events keep their order per topic. No event names, addresses or emails a
customer: ``customer_id`` is all a subscriber needs to look them up where it may.
"""

from __future__ import annotations

from typing import Final, Literal
from uuid import UUID

from pydantic import Field

from orderly_schemas import topics
from orderly_schemas.base import AwareDatetime, Message, Money, StockLine
from orderly_schemas.inventory import ReturnLine

#: Why the customer sends the goods back; ``other`` needs ``reason_text``.
ReturnReason = Literal["damaged", "wrong_item", "not_as_described", "no_longer_needed", "other"]
#: What the customer gets for the goods: a refund, or other goods in exchange
#: (``replacement``), the price difference charged or refunded.
Resolution = Literal["refund", "exchange"]
#: The longest free text of a return's reason, and of a rejection's.
MAX_REASON_TEXT: Final = 1000
#: The most lines a return has: one per SKU of its order (an order has at most 200 lines).
MAX_RETURN_LINES: Final = 200


class ReturnEvent(Message):
    """A step of one return: which return, of which order, and what is sent back why."""

    topic = topics.ORDER_RETURNS

    return_id: UUID
    return_number: str = Field(min_length=1, max_length=32, description="e.g. RMA-0000042")
    order_id: UUID
    order_number: str = Field(min_length=1, max_length=32)
    customer_id: str = Field(min_length=1, max_length=64)
    lines: list[StockLine] = Field(
        min_length=1, max_length=MAX_RETURN_LINES, description="one line per SKU sent back"
    )
    reason: ReturnReason
    reason_text: str | None = Field(
        default=None,
        max_length=MAX_REASON_TEXT,
        description="the customer's words; always given with reason 'other'",
    )
    resolution: Resolution = "refund"
    replacement: list[StockLine] = Field(
        default_factory=list,
        max_length=MAX_RETURN_LINES,
        description="with resolution 'exchange': the goods sent in place of ``lines``",
    )
    occurred_at: AwareDatetime


class ReturnRequested(ReturnEvent):
    """A customer, or support for them, asked to return delivered goods."""


class ReturnApproved(ReturnEvent):
    """The return was approved: by the rules at once (``approved_by`` 'rule'), or by
    support (the agent's subject)."""

    approved_by: str = Field(min_length=1, max_length=200)


class ReturnRejected(ReturnEvent):
    """Support refused the return, saying why."""

    rejected_by: str = Field(min_length=1, max_length=200)
    rejection_reason: str = Field(min_length=1, max_length=MAX_REASON_TEXT)


class ReturnLabelIssued(ReturnEvent):
    """The carrier will collect the goods: the label's tracking number, and the date after
    which an unused label expires the return."""

    carrier: str
    tracking_number: str
    warehouse: str = Field(min_length=1, max_length=64, description="where the goods go back to")
    expires_at: AwareDatetime


class ReturnReceived(ReturnEvent):
    """The goods reached the warehouse and were inspected: each unit resellable (restocked)
    or damaged (written off)."""

    warehouse: str = Field(min_length=1, max_length=64)
    received: list[ReturnLine] = Field(min_length=1, max_length=2 * MAX_RETURN_LINES)


class ReturnCompleted(ReturnEvent):
    """The return is settled: ``refunded`` went back to the customer (zero when no unit
    qualified), after ``restocking_fee``; for an exchange, ``charged`` is the price
    difference the customer paid."""

    refunded: Money
    restocking_fee: Money
    refund_id: str | None = Field(
        default=None, description="the RefundPayment's id; none when nothing was refunded"
    )
    charged: Money | None = Field(
        default=None, description="an exchange's price difference charged (ChargePayment)"
    )


class ReturnExpired(ReturnEvent):
    """The return label was never used: the return is closed without goods or refund."""

    expired_reason: str = Field(min_length=1, max_length=MAX_REASON_TEXT)


class ReturnNeedsAttention(ReturnEvent):
    """A step of the return keeps failing (no label, a refund refused, goods not arriving
    or not inspected in time): support or finance must act (``POST /returns/{id}/retry``)."""

    attention_reason: str = Field(min_length=1, max_length=MAX_REASON_TEXT)


class ReturnReplacementShipped(ReturnEvent):
    """An exchange's new goods left the warehouse (at approval or on receipt of the
    return, as policy says)."""

    replacement_id: UUID
    carrier: str
    tracking_numbers: list[str] = Field(min_length=1)


class ReturnReplacementUnavailable(ReturnEvent):
    """The exchange's new goods could not be reserved (or its price difference not
    charged): the return goes on as a refund (``resolution`` is 'refund' from here)."""

    unavailable_reason: str = Field(min_length=1, max_length=MAX_REASON_TEXT)
