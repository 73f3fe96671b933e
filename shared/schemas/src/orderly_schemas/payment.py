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
    """Refund ``amount``; ``refund_id`` makes the request idempotent.

    Sent for an order whose payment was never captured, it voids the order's payment
    instead: no capture will happen for the order afterwards (PaymentVoided).
    """

    refund_id: str = Field(min_length=1, max_length=100)
    amount: Money
    reason: str


class ChargePayment(PaymentCommand):
    """Charge ``amount`` more to the method the order was paid with (an exchange's price
    difference); ``charge_id`` makes it idempotent. Answered with PaymentCharged or
    ChargeFailed; a charged amount can be refunded like the capture."""

    charge_id: str = Field(min_length=1, max_length=100)
    amount: Money
    payment: PaymentDetails
    reason: str = Field(min_length=1, max_length=1000)


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


class PaymentVoided(PaymentEvent):
    """The order's payment was never captured and never will be: nothing to refund."""

    refund_id: str = Field(description="the RefundPayment that found nothing captured")
    reason: str


class RefundFailed(PaymentEvent):
    """The refund did not happen: refused, or still failing after every retry."""

    refund_id: str
    amount: Money
    reason: str
    attempts: int = Field(default=1, ge=1, description="provider attempts made before giving up")


class PaymentCharged(PaymentEvent):
    """The extra charge was captured."""

    charge_id: str
    amount: Money
    provider_reference: str


class ChargeFailed(PaymentEvent):
    """The extra charge was declined, or its provider kept failing."""

    charge_id: str
    amount: Money
    reason: str
