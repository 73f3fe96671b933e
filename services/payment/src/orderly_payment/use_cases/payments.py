"""The payment service's use cases: pay, charge more, refund and void, each at most once.

Every provider call is written to the ledger as *requested* first, on a
connection of its own (``write_ahead``), and carries an idempotency key derived
from the saga step: ``authorize:<order>``, ``capture:<order>``, ``void:<order>``,
``charge:<charge id>``, ``refund:<refund id>:<attempt>``. The answer is recorded in
the consuming transaction. If that transaction never commits (a crash, a kill), the
message is redelivered, the ledger still says *requested*, and the provider is asked
again with the same key, which returns its first answer: money moves once. Each use
case holds the order's lock (``lock_order``) from its first read to its commit, so
two deliveries of one command, or two commands of one order, take turns.

A refund the provider rejects is retried later under a new attempt key until one
succeeds or the attempts run out; a call that got no answer is retried under its
own key, since the provider may have executed it. A refund of more than is left of
the capture goes on at once with the charges, one attempt each (``ledger.refund_source``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final
from uuid import UUID

from prometheus_client import Counter

from orderly_kit.audit import Actor
from orderly_kit.clock import Clock
from orderly_kit.db import Database
from orderly_kit.messaging import Messaging, PoisonMessageError, UnitOfWork
from orderly_payment.adapters.providers import (
    PaymentProvider,
    ProviderError,
    ProviderResult,
    Providers,
    WebhookEvent,
)
from orderly_payment.adapters.repository import PaymentRepository, write_ahead
from orderly_payment.domain.ledger import (
    Operation,
    OperationKind,
    OperationStatus,
    authorize_key,
    capture_key,
    charge_key,
    charged_amount,
    refund_attempt_key,
    refund_source,
    refunded_amount,
    returned_by,
    taken,
    void_key,
)
from orderly_payment.domain.payments import (
    NO_CAPTURED_PAYMENT,
    CardDisplay,
    Charge,
    Payment,
    PaymentVoid,
    Refund,
    RefundRetryPolicy,
    RefundStatus,
    charge_refusal,
    refund_refusal,
    refused_refund,
)
from orderly_schemas.base import Money
from orderly_schemas.payment import CapturePayment, ChargePayment, RefundPayment

log = logging.getLogger(__name__)

#: Refunds the retry job handles per call (each in its own transaction).
REFUND_RETRY_BATCH: Final = 100

REFUNDS_FAILED = Counter(
    "orderly_refunds_failed_total",
    "Refunds that failed for good (refused, or rejected at every attempt): money to settle by hand",
    ["requested_by"],
)


CHARGES = Counter(
    "orderly_charges_total",
    "Charges after the capture (ChargePayment) decided, by outcome: succeeded or failed",
    ["outcome"],
)


def _jitter() -> float:
    return random.uniform(0.5, 1.0)  # noqa: S311 - spreads retries, not a secret


@dataclass(frozen=True)
class Gateway:
    """What the use cases need besides a unit of work: the providers, the ledger, the policy."""

    providers: Providers
    #: Where ledger entries are written ahead of provider calls, on connections of their own.
    database: Database
    retry: RefundRetryPolicy = field(default_factory=RefundRetryPolicy)


class NoProviderError(PoisonMessageError):
    """No provider adapter is configured for a payment method (or a payment's provider)."""


class UnknownOperationError(Exception):
    """A provider's webhook names an operation the ledger does not hold."""


class RefundRefusedError(Exception):
    """A refund asked for by hand that must not reach the provider; the reason says why."""


def _provider(
    providers: Providers, *, method: str | None = None, name: str | None = None
) -> PaymentProvider:
    found = providers.named(name) if name else providers.for_method(method or "")
    if found is None:
        what = f"provider {name!r}" if name else f"payment method {method!r}"
        raise NoProviderError(
            f"field payment.method: no provider adapter is configured for {what}"
            f" (configured: {providers.methods})"
        )
    return found


async def capture_payment(uow: UnitOfWork, command: CapturePayment, *, gateway: Gateway) -> None:
    """Authorize and capture the order's payment once; a repeat re-announces the outcome."""
    repo = PaymentRepository(uow.session)
    await repo.lock_order(command.order_id)
    payment = await repo.payment_of(command.order_id)
    outcome = payment.outcome() if payment is not None else None
    if outcome is not None:
        log.info(
            "order %s already has payment %s; re-announcing it",
            command.order_id,
            payment.payment_id if payment else None,
        )
        await uow.publish(outcome)
        return
    void = await repo.void_of(command.order_id)
    if void is not None:
        log.warning(
            "capture of order %s refused: its payment was voided by refund %s",
            command.order_id,
            void.refund_id,
        )
        await uow.publish(void.refused_capture(uow.now()))
        return
    if payment is None:
        details = command.payment
        payment = Payment.new(
            order_id=command.order_id,
            method=details.method,
            provider=_provider(gateway.providers, method=details.method).name,
            display=CardDisplay(
                brand=details.brand,
                last4=details.last4,
                exp_month=details.exp_month,
                exp_year=details.exp_year,
            ),
            amount=command.amount,
            now=uow.now(),
        )
    await _advance(uow, repo, payment, gateway=gateway, token=command.payment.token, void=void)


async def _advance(
    uow: UnitOfWork,
    repo: PaymentRepository,
    payment: Payment,
    *,
    gateway: Gateway,
    token: str | None,
    void: PaymentVoid | None,
) -> None:
    """Take the payment as far as its ledger allows, then announce where it stands.

    Called with the order locked (so ``void``, the order's void read under that lock,
    stays true): for a new payment, a redelivered command, or a provider's late answer.
    Each step whose entry is missing or still *requested* is (re-)sent under its key;
    each answered step is taken as recorded.
    """
    database = gateway.database
    provider = _provider(gateway.providers, name=payment.provider)
    ops: dict[OperationKind, Operation] = {
        o.kind: o
        for o in await repo.operations(payment.payment_id)
        if o.kind not in (OperationKind.REFUND, OperationKind.CHARGE)
    }
    auth = ops.get(OperationKind.AUTHORIZE)
    if auth is None or auth.status is OperationStatus.REQUESTED:
        if token is None or void is not None:
            return  # only the command can (re)send an authorization, and not after a void
        auth = await _call(
            repo,
            await write_ahead(
                database,
                _requested(
                    payment, OperationKind.AUTHORIZE, authorize_key(payment.order_id), now=uow.now()
                ),
                payment=payment,
            ),
            lambda key: provider.authorize(
                idempotency_key=key, order_id=payment.order_id, amount=payment.amount, token=token
            ),
            clock=uow.now,
        )
    if auth.status is OperationStatus.SUCCEEDED and void is None:
        capture = ops.get(OperationKind.CAPTURE)
        if capture is None or capture.status is OperationStatus.REQUESTED:
            reference = auth.provider_reference or ""
            capture = await _call(
                repo,
                await write_ahead(
                    database,
                    _requested(
                        payment, OperationKind.CAPTURE, capture_key(payment.order_id), now=uow.now()
                    ),
                ),
                lambda key: provider.capture(
                    idempotency_key=key,
                    order_id=payment.order_id,
                    authorization_reference=reference,
                    amount=payment.amount,
                ),
                clock=uow.now,
            )
        if capture.status is OperationStatus.FAILED:
            # Release the hold: the customer must not wait days for it to lapse.
            await _void_authorization(
                repo, payment, auth, ops, provider=provider, database=database, clock=uow.now
            )
    elif auth.status is OperationStatus.SUCCEEDED and void is not None:
        # A late approval of an order cancelled meanwhile: release what was held.
        await _void_authorization(
            repo, payment, auth, ops, provider=provider, database=database, clock=uow.now
        )
    payment = await _settle(repo, payment, voided=void is not None, now=uow.now())
    event = payment.outcome()
    if event is not None and void is None:
        await uow.publish(event)
    elif void is None:
        log.info(
            "payment %s of order %s is %s; awaiting the provider's webhook",
            payment.payment_id,
            payment.order_id,
            payment.status.value,
        )


async def _void_authorization(
    repo: PaymentRepository,
    payment: Payment,
    auth: Operation,
    ops: dict[OperationKind, Operation],
    *,
    provider: PaymentProvider,
    database: Database,
    clock: Clock,
) -> Operation:
    done = ops.get(OperationKind.VOID)
    if done is not None and done.status is not OperationStatus.REQUESTED:
        return done
    reference = auth.provider_reference or ""
    return await _call(
        repo,
        await write_ahead(
            database,
            _requested(payment, OperationKind.VOID, void_key(payment.order_id), now=clock()),
        ),
        lambda key: provider.void(
            idempotency_key=key,
            order_id=payment.order_id,
            authorization_reference=reference,
            amount=payment.amount,
        ),
        clock=clock,
    )


def _requested(payment: Payment, kind: OperationKind, key: str, *, now: datetime) -> Operation:
    return Operation.requested(
        kind=kind,
        idempotency_key=key,
        order_id=payment.order_id,
        payment_id=payment.payment_id,
        provider=payment.provider,
        amount=payment.amount,
        now=now,
    )


async def _call(
    repo: PaymentRepository,
    operation: Operation,
    send: Callable[[str], Awaitable[ProviderResult]],
    *,
    clock: Clock,
) -> Operation:
    """Send a ledger entry's operation under its key and record the answer.

    A provider that does not answer raises ProviderError: the entry stays *requested*
    (written ahead) and the message is retried, or dead-lettered, as any error is.
    """
    if operation.status.answered or operation.status is OperationStatus.PENDING:
        return operation  # answered before (by a webhook, say): never send it twice
    result = await send(operation.idempotency_key)
    if result.pending:
        answered = operation.pending(reference=result.reference)
    else:
        answered = operation.answered(
            approved=result.approved,
            reference=result.reference,
            reason=result.failure_reason,
            now=clock(),
        )
    await repo.update_operation(answered)
    log.info(
        "%s %s of order %s: %s%s",
        operation.kind.value,
        operation.idempotency_key,
        operation.order_id,
        answered.status.value,
        f" ({answered.reason})" if answered.reason else "",
    )
    return answered


async def _settle(
    repo: PaymentRepository, payment: Payment, *, voided: bool, now: datetime
) -> Payment:
    """Bring the payment's status and references in step with its ledger."""
    settled = payment.settled(await repo.operations(payment.payment_id), now, voided=voided)
    await repo.update_payment(settled)
    return settled


@dataclass(frozen=True)
class Confirmation:
    """What a provider's webhook says of one of its operations."""

    provider: str
    kind: OperationKind
    reference: str
    approved: bool
    reason: str | None


async def confirm_operation(
    uow: UnitOfWork, confirmation: Confirmation, *, gateway: Gateway
) -> bool:
    """Record a provider's late answer and carry the payment on; False if it was known already.

    Raises UnknownOperationError if the ledger holds no such operation.
    """
    repo = PaymentRepository(uow.session)
    found = await repo.operation_by_reference(
        confirmation.provider, confirmation.reference, confirmation.kind
    )
    if found is None:
        raise UnknownOperationError(
            f"no {confirmation.kind.value} {confirmation.reference!r} of provider"
            f" {confirmation.provider!r} in the ledger"
        )
    await repo.lock_order(found.order_id)
    # Read again under the lock: a concurrent delivery may have recorded it meanwhile.
    operation = await repo.operation_by_reference(
        confirmation.provider, confirmation.reference, confirmation.kind
    )
    assert operation is not None
    if operation.status.answered:
        return False
    answered = operation.answered(
        approved=confirmation.approved,
        reference=confirmation.reference,
        reason=confirmation.reason,
        now=uow.now(),
    )
    await repo.update_operation(answered)
    payment = await repo.payment(operation.payment_id)
    if operation.kind is OperationKind.CHARGE:
        # Written ahead with its entry: a charge's entry always has its row.
        charge = await repo.charge(operation.charge_id or "")
        assert charge is not None, f"charge {operation.charge_id} has a ledger entry but no row"
        await _settle_charge(uow, repo, charge, answered, payment)
        return True
    void = await repo.void_of(payment.order_id)
    await _advance(uow, repo, payment, gateway=gateway, token=None, void=void)
    return True


class WebhookOutcome(StrEnum):
    """What became of a provider's webhook delivery."""

    CONFIRMED = "confirmed"  # it answered its operation, and the payment went on
    ALREADY_ANSWERED = "already_answered"  # the operation had its answer: nothing changed
    DUPLICATE = "duplicate"  # its delivery id was received before: nothing changed


async def receive_provider_webhook(
    uow: UnitOfWork, event: WebhookEvent, *, provider: str, gateway: Gateway
) -> WebhookOutcome:
    """Apply a provider's webhook once per delivery id: the answer it carries and what follows.

    The delivery id is remembered in the same transaction as the answer, so a replay or
    a retry of the delivery changes nothing, and neither does a delivery whose operation
    was answered already. Raises UnknownOperationError if the ledger holds no such
    operation; then nothing is remembered, and the provider's retry is applied once the
    operation is known.
    """
    repo = PaymentRepository(uow.session)
    if not await repo.record_webhook_delivery(
        provider,
        event.delivery_id,
        event_type=event.event_type,
        reference=event.reference,
        outcome=WebhookOutcome.CONFIRMED.value,
        at=uow.now(),
    ):
        log.info("%s webhook %s was received before", provider, event.delivery_id)
        return WebhookOutcome.DUPLICATE
    confirmation = Confirmation(
        provider=provider,
        kind=event.kind,
        reference=event.reference,
        approved=event.approved,
        reason=event.reason,
    )
    if await confirm_operation(uow, confirmation, gateway=gateway):
        return WebhookOutcome.CONFIRMED
    log.info(
        "%s webhook %s: %s %s was answered already",
        provider,
        event.delivery_id,
        event.kind.value,
        event.reference,
    )
    await repo.set_webhook_outcome(
        provider, event.delivery_id, WebhookOutcome.ALREADY_ANSWERED.value
    )
    return WebhookOutcome.ALREADY_ANSWERED


async def charge_payment(uow: UnitOfWork, command: ChargePayment, *, gateway: Gateway) -> None:
    """Charge the order's payment method more, once per charge id; a repeat re-announces it.

    Refused without asking the provider (ChargeFailed with the reason, recorded, so that a
    re-send answers the same) unless the order's payment was captured, in the charge's
    currency, and the amount is more than zero. A provider that does not answer raises
    ProviderError: the charge stays pending and a re-send asks again under its key; one
    that answers by webhook leaves it pending until ``confirm_operation``.
    """
    repo = PaymentRepository(uow.session)
    await repo.lock_order(command.order_id)
    charge = await repo.charge(command.charge_id)
    if charge is not None and charge.order_id != command.order_id:
        raise PoisonMessageError(
            f"field charge_id: {command.charge_id!r} already belongs to order {charge.order_id};"
            " a charge id names one charge of one order"
        )
    if charge is not None and (event := charge.outcome()) is not None:
        log.info("charge %s already %s; re-announcing it", charge.charge_id, charge.status.value)
        await uow.publish(event)
        return
    payment = await repo.payment_of(command.order_id)
    if charge is None:
        refused = charge_refusal(payment, command.amount)
        if refused is not None:
            charge = Charge.refused(command, refused, payment=payment, now=uow.now())
            await repo.add_charge(charge)
            log.info("charge %s refused: %s", charge.charge_id, refused)
            await _announce_charge(uow, charge)
            return
        assert payment is not None  # charge_refusal refuses an order without a payment
        charge = Charge.requested(command, payment_id=payment.payment_id, now=uow.now())
    assert payment is not None  # a pending charge was accepted for the order's payment
    provider = _provider(gateway.providers, name=payment.provider)
    token = command.payment.token
    operation = await _call(
        repo,
        await write_ahead(
            gateway.database,
            Operation.requested(
                kind=OperationKind.CHARGE,
                idempotency_key=charge_key(charge.charge_id),
                order_id=charge.order_id,
                payment_id=payment.payment_id,
                provider=payment.provider,
                amount=charge.amount,
                now=uow.now(),
                charge_id=charge.charge_id,
            ),
            charge=charge,
        ),
        lambda key: provider.charge(
            idempotency_key=key, order_id=charge.order_id, amount=charge.amount, token=token
        ),
        clock=uow.now,
    )
    await _settle_charge(uow, repo, charge, operation, payment)


async def _settle_charge(
    uow: UnitOfWork,
    repo: PaymentRepository,
    charge: Charge,
    operation: Operation,
    payment: Payment,
) -> None:
    """Bring the charge and its payment in step with the charge's ledger entry ``operation``,
    and announce the charge once it is decided."""
    now = uow.now()
    charge = charge.settled(operation, now)
    await repo.update_charge(charge)
    await _settle(repo, payment, voided=await repo.void_of(payment.order_id) is not None, now=now)
    if charge.outcome() is None:
        log.info(
            "charge %s of order %s is pending; awaiting the provider's answer",
            charge.charge_id,
            charge.order_id,
        )
        return
    await _announce_charge(uow, charge)


async def _announce_charge(uow: UnitOfWork, charge: Charge) -> None:
    """Announce a charge decided in this transaction (a re-announcement is not counted)."""
    event = charge.outcome()
    assert event is not None, f"charge {charge.charge_id} is not decided"
    CHARGES.labels(charge.status.value).inc()
    await uow.publish(event)


async def refund_payment(
    uow: UnitOfWork,
    command: RefundPayment,
    *,
    gateway: Gateway,
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
    if payment is None or not payment.captured:
        await _void(uow, repo, command, payment, gateway=gateway)
        return
    refused = _refund_refusal(payment, await repo.operations(payment.payment_id), command.amount)
    if refused is not None:
        await _refuse(uow, command, refused)
        return
    refund = Refund.requested(
        refund_id=command.refund_id,
        order_id=command.order_id,
        payment_id=payment.payment_id,
        amount=command.amount,
        reason=command.reason,
        now=uow.now(),
    )
    await repo.add_refund(refund)
    await _attempt_refund(uow, repo, refund, payment, gateway=gateway)


async def _void(
    uow: UnitOfWork,
    repo: PaymentRepository,
    command: RefundPayment,
    payment: Payment | None,
    *,
    gateway: Gateway,
) -> None:
    """Nothing was captured: no capture may happen for the order, and any hold is released."""
    void = PaymentVoid(
        refund_id=command.refund_id,
        order_id=command.order_id,
        reason=command.reason,
        created_at=uow.now(),
    )
    await repo.add_void(void)
    if payment is not None:
        ops = {o.kind: o for o in await repo.operations(payment.payment_id)}
        auth = ops.get(OperationKind.AUTHORIZE)
        if auth is not None and auth.status in (OperationStatus.SUCCEEDED, OperationStatus.PENDING):
            await _void_authorization(
                repo,
                payment,
                auth,
                ops,
                provider=_provider(gateway.providers, name=payment.provider),
                database=gateway.database,
                clock=uow.now,
            )
        # An authorization that never answered (a timeout) holds nothing we know of: a
        # provider lets such a hold lapse, and no capture will follow it.
        await _settle(repo, payment, voided=True, now=uow.now())
    log.info("refund %s found nothing captured; order %s voided", void.refund_id, void.order_id)
    await uow.publish(void.outcome())


MANUAL_PREFIX: Final = "manual:"
#: refunds.refund_id holds 100 characters; the prefix takes some of them.
MAX_KEY_LENGTH: Final = 100 - len(MANUAL_PREFIX)


def manual_refund_id(idempotency_key: str) -> str:
    """The refund id of a refund asked for by hand: never one the saga uses."""
    return f"{MANUAL_PREFIX}{idempotency_key}"


class NoPaymentError(Exception):
    """The order has no payment at all: nothing to refund."""


@dataclass(frozen=True)
class ManualRefund:
    refund: Refund
    replayed: bool  # the key was used before: this is the refund made then


async def refund_by_hand(
    uow: UnitOfWork,
    *,
    order_id: UUID,
    idempotency_key: str,
    amount: Money,
    reason: str,
    requested_by: Actor,
    gateway: Gateway,
) -> ManualRefund:
    """A refund finance asks for: once per idempotency key, never more than is left to refund.

    A repeated request with the key returns the refund made the first time. Raises
    NoPaymentError, or RefundRefusedError with the reason (the key used for another
    amount or order, nothing captured, more than is left, another currency). The refund
    is audited (``payment.refund``) with the outcome of its first attempt.
    """
    repo = PaymentRepository(uow.session)
    await repo.lock_order(order_id)
    refund_id = manual_refund_id(idempotency_key)
    existing = await repo.refund(refund_id)
    if existing is not None:
        if existing.order_id != order_id or existing.amount != amount:
            # Nothing of that other refund is told: its order and amount are not the caller's.
            raise RefundRefusedError(
                "idempotency key already used for a different request: send a new key for"
                " a new refund"
            )
        return ManualRefund(existing, replayed=True)
    payment = await repo.payment_of(order_id)
    if payment is None:
        raise NoPaymentError(f"no payment for order {order_id} has been attempted")
    refused = _refund_refusal(payment, await repo.operations(payment.payment_id), amount)
    if refused is not None:
        raise RefundRefusedError(refused)
    refund = Refund.requested(
        refund_id=refund_id,
        order_id=order_id,
        payment_id=payment.payment_id,
        amount=amount,
        reason=reason,
        now=uow.now(),
        requested_by=requested_by.name,
    )
    await repo.add_refund(refund)
    refund = await _attempt_refund(uow, repo, refund, payment, gateway=gateway)
    await uow.audit(
        actor=requested_by,
        action="payment.refund",
        target=f"order:{order_id}",
        after={
            "refund_id": refund.refund_id,
            "payment_id": refund.payment_id,
            "amount": refund.amount.amount,
            "currency": refund.amount.currency,
            "status": refund.status,
            "reason": reason,
        },
    )
    return ManualRefund(refund, replayed=False)


async def retry_due_refunds(
    messaging: Messaging,
    *,
    gateway: Gateway,
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
                refund = await repo.lock_next_due_refund(now=uow.now(), skip=broken)
                if refund is None:
                    break
                claimed.append(refund.refund_id)
                await repo.lock_order(refund.order_id)
                payment = await repo.payment(refund.payment_id)
                await _attempt_refund(uow, repo, refund, payment, gateway=gateway)
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
    gateway: Gateway,
) -> Refund:
    """A refund's next provider attempt, its ledger entry, and the outcome if it is final.

    An attempt that returned part of the refund (all that was left of the capture, or of
    a charge) is followed at once by the next, on the next money taken.
    """
    part_returned = True
    while part_returned:
        refund, part_returned = await _attempt_refund_part(
            uow, repo, refund, payment, gateway=gateway
        )
    if refund.status is RefundStatus.FAILED:
        REFUNDS_FAILED.labels("finance" if refund.requested_by else "saga").inc()
    await _settle(
        repo, payment, voided=await repo.void_of(payment.order_id) is not None, now=uow.now()
    )
    await _announce(uow, refund)
    return refund


async def _attempt_refund_part(
    uow: UnitOfWork,
    repo: PaymentRepository,
    refund: Refund,
    payment: Payment,
    *,
    gateway: Gateway,
) -> tuple[Refund, bool]:
    """One provider attempt of a refund and its ledger entry; True if it returned part of
    the refund and the rest is due at once."""
    policy = gateway.retry
    now = uow.now()
    ops = await repo.operations(payment.payment_id)
    left = Money(
        amount=refund.amount.amount - returned_by(ops, refund.refund_id),
        currency=refund.amount.currency,
    )
    # Other refunds of the payment may have succeeded since this one was accepted.
    refused = _refund_refusal(payment, ops, left)
    source = refund_source(ops)
    if refused is not None or source is None:
        refund = refund.refused(refused or NO_CAPTURED_PAYMENT, now)
        await repo.update_refund(refund)
        log.info(
            "refund %s refused before attempt %d: %s",
            refund.refund_id,
            refund.attempts + 1,
            refund.failure_reason,
        )
        return refund, False
    provider = _provider(gateway.providers, name=payment.provider)
    mine = [o for o in ops if o.refund_id == refund.refund_id]
    unanswered = next((o for o in mine if o.status is OperationStatus.REQUESTED), None)
    if unanswered is not None:
        # Money may have moved under its key (a crash, no answer): asked again with that key,
        # its amount and its source, before any new attempt. A crash after a part returned
        # may leave more than one such attempt: the oldest first.
        attempt = unanswered
    else:
        number = max((o.attempt or 0 for o in mine), default=0) + 1
        attempt = await write_ahead(
            gateway.database,
            Operation.requested(
                kind=OperationKind.REFUND,
                idempotency_key=refund_attempt_key(refund.refund_id, number),
                order_id=refund.order_id,
                payment_id=payment.payment_id,
                provider=payment.provider,
                amount=Money(amount=min(left.amount, source.refundable), currency=left.currency),
                now=now,
                refund_id=refund.refund_id,
                attempt=number,
                charge_id=source.charge_id,
            ),
        )
    reference = next((t.reference for t in taken(ops) if t.charge_id == attempt.charge_id), "")
    failure_reason: str | None
    try:
        answered = await _call(
            repo,
            attempt,
            lambda key: provider.refund(
                idempotency_key=key,
                order_id=refund.order_id,
                payment_reference=reference,
                amount=attempt.amount,
            ),
            clock=uow.now,
        )
    except ProviderError as exc:
        reason = f"no answer from the provider: {exc}"
        await repo.update_operation(attempt.unanswered(reason))
        approved, reference_answered, failure_reason = False, None, reason
    else:
        approved = answered.status is OperationStatus.SUCCEEDED
        reference_answered, failure_reason = answered.provider_reference, answered.reason
    refund = refund.answered(
        approved=approved,
        reference=reference_answered,
        failure_reason=failure_reason,
        policy=policy,
        jitter=_jitter(),
        now=uow.now(),
        left=left.amount - attempt.amount.amount,
    )
    await repo.update_refund(refund)
    part_returned = approved and refund.status is RefundStatus.PENDING
    if refund.next_attempt_at is not None and not part_returned:
        log.warning(
            "refund %s attempt %d of %d failed (%s); next attempt at %s",
            refund.refund_id,
            refund.attempts,
            policy.max_attempts,
            refund.failure_reason,
            refund.next_attempt_at.isoformat(),
        )
    return refund, part_returned


def _refund_refusal(payment: Payment, ops: list[Operation], requested: Money) -> str | None:
    """``refund_refusal`` against what the payment's ledger entries ``ops`` took and returned."""
    return refund_refusal(
        payment, charged=charged_amount(ops), refunded=refunded_amount(ops), requested=requested
    )


async def _announce(uow: UnitOfWork, refund: Refund) -> None:
    event = refund.outcome()
    if event is not None:
        await uow.publish(event)


async def _refuse(uow: UnitOfWork, command: RefundPayment, reason: str) -> None:
    """Announce a refund that was not sent to the provider (nothing is recorded)."""
    log.info("refund %s refused: %s", command.refund_id, reason)
    REFUNDS_FAILED.labels("saga").inc()
    await uow.publish(refused_refund(command, reason, now=uow.now()))
