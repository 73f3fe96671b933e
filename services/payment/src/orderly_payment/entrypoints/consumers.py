"""Kafka subscribers of the payment service: the saga's payment commands."""

from __future__ import annotations

from faststream import Context

from orderly_kit.messaging import UOW_CONTEXT_KEY, UnitOfWork
from orderly_kit.service import Service, of_type
from orderly_payment import handlers
from orderly_payment.handlers import Gateway
from orderly_schemas import topics
from orderly_schemas.payment import (
    CapturePayment,
    PaymentCaptured,
    PaymentFailed,
    PaymentRefunded,
    PaymentVoided,
    RefundFailed,
    RefundPayment,
)

UOW = Context(UOW_CONTEXT_KEY)


def register(service: Service, *, gateway: Gateway) -> None:
    """Subscribe the payment commands and declare the payment events."""
    commands = service.subscriber(topics.PAYMENT_COMMANDS)

    @commands(filter=of_type(CapturePayment))
    async def on_capture_payment(command: CapturePayment, uow: UnitOfWork = UOW) -> None:
        await handlers.capture_payment(uow, command, gateway=gateway)

    @commands(filter=of_type(RefundPayment))
    async def on_refund_payment(command: RefundPayment, uow: UnitOfWork = UOW) -> None:
        await handlers.refund_payment(uow, command, gateway=gateway)

    service.publishes(PaymentCaptured, PaymentFailed, PaymentRefunded, PaymentVoided, RefundFailed)
