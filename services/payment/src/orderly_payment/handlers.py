"""The payment service's use cases: capture and refund, each at most once per order or refund id.

The provider is called inside the consuming transaction. If that transaction
then fails, the message is redelivered and the provider is asked again with the
same idempotency key, which returns its first answer: money moves once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from orderly_kit.messaging import PoisonMessageError, UnitOfWork
from orderly_payment.adapters.providers import PaymentProvider
from orderly_payment.adapters.repository import PaymentRepository
from orderly_payment.domain.card_numbers import looks_like_card_number
from orderly_payment.domain.payments import (
    NO_CAPTURED_PAYMENT,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    capture_idempotency_key,
    last4,
    new_payment_id,
    refund_idempotency_key,
    refund_refusal,
)
from orderly_schemas.payment import CapturePayment, RefundFailed, RefundPayment

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


async def capture_payment(
    uow: UnitOfWork, command: CapturePayment, *, provider: PaymentProvider
) -> None:
    """Capture the order's payment once; a repeat re-announces the recorded outcome."""
    if looks_like_card_number(command.payment.token):
        # Never echo the value: it may be a real card number.
        raise PoisonMessageError(
            "field payment.token: looks like a card number; send the provider's token instead"
        )
    repo = PaymentRepository(uow.session)
    await repo.lock_order(command.order_id)
    payment = await repo.payment_of(command.order_id)
    if payment is not None:
        log.info(
            "order %s already has payment %s; re-announcing it",
            command.order_id,
            payment.payment_id,
        )
        await uow.publish(payment.outcome())
        return
    key = capture_idempotency_key(command.order_id)
    result = await provider.capture(
        idempotency_key=key, amount=command.amount, token=command.payment.token
    )
    payment = Payment(
        payment_id=new_payment_id(),
        order_id=command.order_id,
        method=command.payment.method,
        token_last4=last4(command.payment.token),
        amount=command.amount,
        status=PaymentStatus.CAPTURED if result.approved else PaymentStatus.FAILED,
        provider_reference=result.reference,
        failure_reason=result.failure_reason,
        idempotency_key=key,
        created_at=_now(),
    )
    await repo.add_payment(payment)
    await uow.publish(payment.outcome())


async def refund_payment(
    uow: UnitOfWork, command: RefundPayment, *, provider: PaymentProvider
) -> None:
    """Refund at most what was captured and not yet refunded, once per refund id."""
    repo = PaymentRepository(uow.session)
    await repo.lock_order(command.order_id)
    refund = await repo.refund(command.refund_id)
    if refund is not None and refund.order_id != command.order_id:
        raise PoisonMessageError(
            f"field refund_id: {command.refund_id!r} already refunded order {refund.order_id};"
            " a refund id names one refund of one order"
        )
    if refund is not None:
        log.info("refund %s already %s; re-announcing it", refund.refund_id, refund.status.value)
        await uow.publish(refund.outcome())
        return
    payment = await repo.payment_of(command.order_id)
    if payment is None:
        await _refuse(uow, command, NO_CAPTURED_PAYMENT)
        return
    refunded = await repo.refunded_amount(payment.payment_id)
    refusal = refund_refusal(payment, refunded=refunded, requested=command.amount)
    if refusal is not None:
        await _refuse(uow, command, refusal)
        return
    result = await provider.refund(
        idempotency_key=refund_idempotency_key(command.refund_id),
        payment_reference=payment.provider_reference,
        amount=command.amount,
    )
    refund = Refund(
        refund_id=command.refund_id,
        order_id=command.order_id,
        payment_id=payment.payment_id,
        amount=command.amount,
        status=RefundStatus.SUCCEEDED if result.approved else RefundStatus.FAILED,
        provider_reference=result.reference,
        reason=command.reason,
        failure_reason=result.failure_reason,
        created_at=_now(),
    )
    await repo.add_refund(refund)
    await uow.publish(refund.outcome())


async def _refuse(uow: UnitOfWork, command: RefundPayment, reason: str) -> None:
    """Announce a refund that was not sent to the provider (nothing is recorded)."""
    log.info("refund %s refused: %s", command.refund_id, reason)
    await uow.publish(
        RefundFailed(
            order_id=command.order_id,
            occurred_at=_now(),
            refund_id=command.refund_id,
            amount=command.amount,
            reason=reason,
        )
    )
