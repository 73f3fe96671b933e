"""Commands to and events from the payment service."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from orderly_schemas import topics
from orderly_schemas.base import AwareDatetime, Message, Money
from orderly_schemas.checkout import PaymentDetails


class PaymentCommand(Message):
    topic = topics.PAYMENT_COMMANDS

    order_id: UUID


class CapturePayment(PaymentCommand):
    amount: Money
    payment: PaymentDetails


class RefundPayment(PaymentCommand):
    """Refund ``amount``; ``refund_id`` makes the request idempotent."""

    refund_id: str = Field(min_length=1, max_length=100)
    amount: Money
    reason: str


class PaymentEvent(Message):
    topic = topics.PAYMENT_EVENTS

    order_id: UUID
    occurred_at: AwareDatetime


class PaymentCaptured(PaymentEvent):
    payment_id: str
    amount: Money
    provider_reference: str


class PaymentFailed(PaymentEvent):
    reason: str


class PaymentRefunded(PaymentEvent):
    refund_id: str
    amount: Money
    provider_reference: str


class RefundFailed(PaymentEvent):
    refund_id: str
    amount: Money
    reason: str
