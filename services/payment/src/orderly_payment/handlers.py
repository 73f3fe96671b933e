"""The payment service's use cases: capture, refund and void, each at most once.

The provider is called inside the consuming transaction but commits on its own.
If our transaction then fails, the message is redelivered (or the retry job runs
again) and the provider is asked again with the same idempotency key, which
returns its first answer: money moves once. A refund the provider rejects is
retried later under a new key (``refund:<id>:<n>``) until it succeeds or the
attempts run out; a call that got no answer is retried under its own key, since
the provider may have executed it.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from typing import Final

from orderly_kit.messaging import Messaging, PoisonMessageError, UnitOfWork
from orderly_payment.adapters.providers import PaymentProvider, ProviderError
from orderly_payment.adapters.repository import PaymentRepository
from orderly_payment.domain.card_numbers import looks_like_card_number
from orderly_payment.domain.payments import (
    AttemptStatus,
    Payment,
    PaymentStatus,
    PaymentVoid,
    Refund,
    RefundAttempt,
    RefundRetryPolicy,
    capture_idempotency_key,
    last4,
    new_payment_id,
    refund_refusal,
)
from orderly_schemas.payment import CapturePayment, RefundFailed, RefundPayment

log = logging.getLogger(__name__)

#: Refunds the retry job handles per call (each in its own transaction).
REFUND_RETRY_BATCH: Final = 100


def _now() -> datetime:
    return datetime.now(UTC)


def _jitter() -> float:
    return random.uniform(0.5, 1.0)  # noqa: S311 - spreads retries, not a secret


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
    void = await repo.void_of(command.order_id)
    if void is not None:
        log.warning(
            "capture of order %s refused: its payment was voided by refund %s",
            command.order_id,
            void.refund_id,
        )
        await uow.publish(void.refused_capture(_now()))
        return
    key = capture_idempotency_key(command.order_id)
    result = await provider.capture(
        idempotency_key=key,
        order_id=command.order_id,
        amount=command.amount,
        token=command.payment.token,
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
    uow: UnitOfWork,
    command: RefundPayment,
    *,
    provider: PaymentProvider,
    retry: RefundRetryPolicy | None = None,
) -> None:
    """Refund at most what is refundable, once per refund id; with nothing captured, void."""
    repo = PaymentRepository(uow.session)
    await repo.lock_order(command.order_id)
    refund = await repo.refund(command.refund_id)
    void = None if refund is not None else await repo.void(command.refund_id)
    owner = refund.order_id if refund else void.order_id if void else None
    if owner is not None and owner != command.order_id:
        raise PoisonMessageError(
            f"field refund_id: {command.refund_id!r} already belongs to order {owner};"
            " a refund id names one refund of one order"
        )
    if refund is not None:
        event = refund.outcome()
        if event is None:
            log.info(
                "refund %s is pending (attempt %d failed); next attempt at %s",
                refund.refund_id,
                refund.attempts,
                refund.next_attempt_at,
            )
            return
        log.info("refund %s already %s; re-announcing it", refund.refund_id, refund.status.value)
        await uow.publish(event)
        return
    if void is not None:
        log.info("refund %s already voided order %s; re-announcing it", void.refund_id, owner)
        await uow.publish(void.outcome())
        return
    payment = await repo.payment_of(command.order_id)
    if payment is None or payment.status is not PaymentStatus.CAPTURED:
        void = PaymentVoid(
            refund_id=command.refund_id,
            order_id=command.order_id,
            reason=command.reason,
            created_at=_now(),
        )
        log.info("refund %s found nothing captured; order %s voided", void.refund_id, void.order_id)
        await repo.add_void(void)
        await uow.publish(void.outcome())
        return
    refused = refund_refusal(
        payment, refunded=await repo.refunded_amount(payment.payment_id), requested=command.amount
    )
    if refused is not None:
        await _refuse(uow, command, refused)
        return
    refund = Refund.requested(
        refund_id=command.refund_id,
        order_id=command.order_id,
        payment_id=payment.payment_id,
        amount=command.amount,
        reason=command.reason,
        now=_now(),
    )
    await repo.add_refund(refund)
    await _attempt_refund(uow, repo, refund, payment, provider=provider, retry=retry)


async def retry_due_refunds(
    messaging: Messaging,
    *,
    provider: PaymentProvider,
    retry: RefundRetryPolicy | None = None,
    limit: int = REFUND_RETRY_BATCH,
) -> int:
    """Make the next attempt of every refund that is due; returns how many were attempted.

    Each refund is claimed with SKIP LOCKED in its own transaction, so several
    replicas can scan at once and one refund's error does not undo another's.
    """
    attempted = 0
    broken: set[str] = set()
    while attempted < limit:
        claimed: list[str] = []
        try:
            async with messaging.unit_of_work() as uow:
                repo = PaymentRepository(uow.session)
                refund = await repo.lock_next_due_refund(now=_now(), skip=broken)
                if refund is None:
                    break
                claimed.append(refund.refund_id)
                await repo.lock_order(refund.order_id)
                payment = await repo.payment(refund.payment_id)
                await _attempt_refund(uow, repo, refund, payment, provider=provider, retry=retry)
        except Exception:
            if not claimed:
                raise
            # Leave it due for the next scan, but let this scan reach the others.
            log.exception("retrying refund %s failed; it stays due", claimed[0])
            broken.add(claimed[0])
        attempted += 1
    return attempted


async def _attempt_refund(
    uow: UnitOfWork,
    repo: PaymentRepository,
    refund: Refund,
    payment: Payment,
    *,
    provider: PaymentProvider,
    retry: RefundRetryPolicy | None,
) -> None:
    """One provider attempt of a refund, its record, and the outcome if it is final."""
    policy = retry or RefundRetryPolicy()
    now = _now()
    # Other refunds of the payment may have succeeded since this one was accepted.
    refused = refund_refusal(
        payment, refunded=await repo.refunded_amount(payment.payment_id), requested=refund.amount
    )
    if refused is not None:
        refund = refund.refused(refused, now)
        await repo.update_refund(refund)
        log.info(
            "refund %s refused before attempt %d: %s",
            refund.refund_id,
            refund.attempts + 1,
            refused,
        )
        await _announce(uow, refund)
        return
    attempt = await repo.last_attempt(refund.refund_id)
    if attempt is None or attempt.status is not AttemptStatus.REQUESTED:
        attempt = RefundAttempt.requested(
            refund, attempt=1 if attempt is None else attempt.attempt + 1, now=now
        )
        await repo.add_attempt(attempt)
    try:
        result = await provider.refund(
            idempotency_key=attempt.idempotency_key,
            order_id=refund.order_id,
            payment_reference=payment.provider_reference,
            amount=refund.amount,
        )
    except ProviderError as exc:
        reason = f"no answer from the provider: {exc}"
        await repo.update_attempt(attempt.unanswered(reason))
        refund = refund.answered(
            approved=False,
            reference=None,
            failure_reason=reason,
            policy=policy,
            jitter=_jitter(),
            now=_now(),
        )
    else:
        now = _now()
        await repo.update_attempt(
            attempt.answered(
                approved=result.approved,
                reference=result.reference,
                reason=result.failure_reason,
                now=now,
            )
        )
        refund = refund.answered(
            approved=result.approved,
            reference=result.reference,
            failure_reason=result.failure_reason,
            policy=policy,
            jitter=_jitter(),
            now=now,
        )
    await repo.update_refund(refund)
    if refund.next_attempt_at is not None:
        log.warning(
            "refund %s attempt %d of %d failed (%s); next attempt at %s",
            refund.refund_id,
            refund.attempts,
            policy.max_attempts,
            refund.failure_reason,
            refund.next_attempt_at.isoformat(),
        )
    await _announce(uow, refund)


async def _announce(uow: UnitOfWork, refund: Refund) -> None:
    event = refund.outcome()
    if event is not None:
        await uow.publish(event)


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
            attempts=1,
        )
    )
