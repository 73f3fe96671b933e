"""Kafka subscribers of the payment service: the saga's payment commands."""

from __future__ import annotations

from orderly_kit.messaging import UnitOfWork
from orderly_kit.service import Service
from orderly_payment import use_cases
from orderly_payment.use_cases.payments import Gateway
from orderly_schemas import topics
from orderly_schemas.payment import (
    CapturePayment,
    ChargeFailed,
    ChargePayment,
    PaymentCaptured,
    PaymentCharged,
    PaymentFailed,
    PaymentRefunded,
    PaymentVoided,
    RefundFailed,
    RefundPayment,
)


def register(service: Service, *, gateway: Gateway) -> None:
    """Subscribe the payment commands and declare the payment events."""
    commands = service.subscriber(topics.PAYMENT_COMMANDS)

    @commands.on(CapturePayment)
    async def on_capture_payment(command: CapturePayment, uow: UnitOfWork) -> None:
        await use_cases.payments.capture_payment(uow, command, gateway=gateway)

    @commands.on(RefundPayment)
    async def on_refund_payment(command: RefundPayment, uow: UnitOfWork) -> None:
        await use_cases.payments.refund_payment(uow, command, gateway=gateway)

    @commands.on(ChargePayment)
    async def on_charge_payment(command: ChargePayment, uow: UnitOfWork) -> None:
        await use_cases.payments.charge_payment(uow, command, gateway=gateway)

    service.publishes(
        PaymentCaptured,
        PaymentFailed,
        PaymentRefunded,
        PaymentVoided,
        RefundFailed,
        PaymentCharged,
        ChargeFailed,
    )
