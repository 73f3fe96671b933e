"""Stores and loads payments, charges, refunds and voids (SQLAlchemy Core, in the caller's
transaction)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.db import Database, insert_unless_exists
from orderly_payment.adapters.orm import (
    charges,
    payment_operations,
    payment_voids,
    payments,
    provider_webhook_deliveries,
    refunds,
)
from orderly_payment.domain.ledger import Operation, OperationKind, OperationStatus, PaymentStatus
from orderly_payment.domain.payments import (
    CardDisplay,
    Charge,
    ChargeStatus,
    Payment,
    PaymentVoid,
    Refund,
    RefundStatus,
)
from orderly_schemas.base import Money


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_order(self, order_id: UUID) -> None:
        """Serialise this transaction with every other capture, charge or refund of the order.

        An advisory lock, because the first capture has no row to lock yet; it is
        released when the transaction ends.
        """
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"payment:{order_id}"},
        )

    # -- payments -------------------------------------------------------------------
    async def payment_of(self, order_id: UUID) -> Payment | None:
        query = select(payments).where(payments.c.order_id == order_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_payment(row)

    async def payment(self, payment_id: str) -> Payment:
        query = select(payments).where(payments.c.payment_id == payment_id)
        return _to_payment((await self.session.execute(query)).mappings().one())

    async def update_payment(self, payment: Payment) -> None:
        await self.session.execute(
            update(payments)
            .where(payments.c.payment_id == payment.payment_id)
            .values(
                status=payment.status.value,
                authorization_reference=payment.authorization_reference,
                capture_reference=payment.capture_reference,
                failure_reason=payment.failure_reason,
                updated_at=payment.updated_at,
            )
        )

    # -- the ledger -----------------------------------------------------------------
    async def operations(self, payment_id: str) -> list[Operation]:
        """The payment's ledger entries, oldest first."""
        query = (
            select(payment_operations)
            .where(payment_operations.c.payment_id == payment_id)
            .order_by(payment_operations.c.id)
        )
        return [_to_operation(r) for r in (await self.session.execute(query)).mappings()]

    async def operation_by_reference(
        self, provider: str, reference: str, kind: OperationKind
    ) -> Operation | None:
        query = (
            select(payment_operations)
            .where(payment_operations.c.provider == provider)
            .where(payment_operations.c.provider_reference == reference)
            .where(payment_operations.c.kind == kind.value)
        )
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_operation(row)

    async def update_operation(self, operation: Operation) -> None:
        await self.session.execute(
            update(payment_operations)
            .where(payment_operations.c.idempotency_key == operation.idempotency_key)
            .values(
                status=operation.status.value,
                provider_reference=operation.provider_reference,
                reason=operation.reason,
                answered_at=operation.answered_at,
            )
        )

    # -- provider webhooks ---------------------------------------------------------
    async def record_webhook_delivery(
        self,
        provider: str,
        delivery_id: str,
        *,
        event_type: str,
        reference: str,
        outcome: str,
        at: datetime,
    ) -> bool:
        """Remember a webhook delivery; False if it was received before (a replay or a retry).

        A concurrent delivery of the same id waits here until this transaction ends, and
        is then a duplicate (or, if this one rolled back, the delivery that applies).
        """
        delivery = {
            "provider": provider,
            "delivery_id": delivery_id,
            "type": event_type,
            "reference": reference,
            "outcome": outcome,
            "received_at": at,
        }
        result = await self.session.execute(
            insert_unless_exists(
                provider_webhook_deliveries, tuple(delivery), returning=("delivery_id",)
            ),
            delivery,
        )
        return result.first() is not None

    async def set_webhook_outcome(self, provider: str, delivery_id: str, outcome: str) -> None:
        c = provider_webhook_deliveries.c
        await self.session.execute(
            update(provider_webhook_deliveries)
            .where(c.provider == provider, c.delivery_id == delivery_id)
            .values(outcome=outcome)
        )

    # -- charges --------------------------------------------------------------------
    async def charge(self, charge_id: str) -> Charge | None:
        query = select(charges).where(charges.c.charge_id == charge_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_charge(row)

    async def charges_of(self, payment_id: str) -> list[Charge]:
        """The payment's charges, oldest first."""
        query = (
            select(charges)
            .where(charges.c.payment_id == payment_id)
            .order_by(charges.c.created_at, charges.c.charge_id)
        )
        return [_to_charge(r) for r in (await self.session.execute(query)).mappings()]

    async def add_charge(self, charge: Charge) -> None:
        await self.session.execute(insert(charges).values(**_charge_values(charge)))

    async def update_charge(self, charge: Charge) -> None:
        await self.session.execute(
            update(charges)
            .where(charges.c.charge_id == charge.charge_id)
            .values(**_charge_values(charge))
        )

    # -- voids ----------------------------------------------------------------------
    async def void(self, refund_id: str) -> PaymentVoid | None:
        query = select(payment_voids).where(payment_voids.c.refund_id == refund_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_void(row)

    async def void_of(self, order_id: UUID) -> PaymentVoid | None:
        """The order's first void, if its payment was voided."""
        query = (
            select(payment_voids)
            .where(payment_voids.c.order_id == order_id)
            .order_by(payment_voids.c.created_at)
            .limit(1)
        )
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_void(row)

    async def add_void(self, void: PaymentVoid) -> None:
        await self.session.execute(
            insert(payment_voids).values(
                refund_id=void.refund_id,
                order_id=void.order_id,
                reason=void.reason,
                created_at=void.created_at,
            )
        )

    # -- refunds --------------------------------------------------------------------
    async def refund(self, refund_id: str) -> Refund | None:
        query = select(refunds).where(refunds.c.refund_id == refund_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_refund(row)

    async def lock_next_due_refund(
        self, *, now: datetime, skip: Collection[str] = ()
    ) -> Refund | None:
        """The pending refund longest due that no other transaction holds, locked."""
        query = (
            select(refunds)
            .where(refunds.c.status == RefundStatus.PENDING.value)
            .where(refunds.c.next_attempt_at <= now)
            .order_by(refunds.c.next_attempt_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if skip:
            query = query.where(refunds.c.refund_id.not_in(list(skip)))
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_refund(row)

    async def add_refund(self, refund: Refund) -> None:
        await self.session.execute(insert(refunds).values(**_refund_values(refund)))

    async def update_refund(self, refund: Refund) -> None:
        await self.session.execute(
            update(refunds)
            .where(refunds.c.refund_id == refund.refund_id)
            .values(**_refund_values(refund))
        )


async def write_ahead(
    database: Database,
    operation: Operation,
    *,
    payment: Payment | None = None,
    charge: Charge | None = None,
) -> Operation:
    """Record ``operation`` as requested (and ``payment`` or ``charge``, if new) before the
    provider hears it.

    Committed on a connection of its own, so that no rollback of the caller's
    transaction, and no crash, can erase the fact that money may have moved. Returns
    the entry as stored: the earlier one if the key was written before.
    """
    async with database.engine.begin() as conn:
        if payment is not None:
            new = _payment_values(payment)
            await conn.execute(
                insert_unless_exists(payments, tuple(new), conflict=("order_id",)), new
            )
        if charge is not None:
            new = _charge_values(charge)
            await conn.execute(
                insert_unless_exists(charges, tuple(new), conflict=("charge_id",)), new
            )
        requested = _operation_values(operation)
        await conn.execute(
            insert_unless_exists(
                payment_operations, tuple(requested), conflict=("idempotency_key",)
            ),
            requested,
        )
        row = (
            (
                await conn.execute(
                    select(payment_operations).where(
                        payment_operations.c.idempotency_key == operation.idempotency_key
                    )
                )
            )
            .mappings()
            .one()
        )
    return _to_operation(row)


def _payment_values(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.payment_id,
        "order_id": payment.order_id,
        "method": payment.method,
        "provider": payment.provider,
        "brand": payment.display.brand,
        "last4": payment.display.last4,
        "exp_month": payment.display.exp_month,
        "exp_year": payment.display.exp_year,
        "amount": payment.amount.amount,
        "currency": payment.amount.currency,
        "status": payment.status.value,
        "authorization_reference": payment.authorization_reference,
        "capture_reference": payment.capture_reference,
        "failure_reason": payment.failure_reason,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
    }


def _operation_values(operation: Operation) -> dict[str, Any]:
    return {
        "idempotency_key": operation.idempotency_key,
        "kind": operation.kind.value,
        "order_id": operation.order_id,
        "payment_id": operation.payment_id,
        "provider": operation.provider,
        "amount": operation.amount.amount,
        "currency": operation.amount.currency,
        "status": operation.status.value,
        "provider_reference": operation.provider_reference,
        "reason": operation.reason,
        "refund_id": operation.refund_id,
        "attempt": operation.attempt,
        "charge_id": operation.charge_id,
        "requested_at": operation.requested_at,
        "answered_at": operation.answered_at,
    }


def _refund_values(refund: Refund) -> dict[str, Any]:
    return {
        "refund_id": refund.refund_id,
        "order_id": refund.order_id,
        "payment_id": refund.payment_id,
        "amount": refund.amount.amount,
        "currency": refund.amount.currency,
        "status": refund.status.value,
        "provider_reference": refund.provider_reference,
        "reason": refund.reason,
        "requested_by": refund.requested_by,
        "failure_reason": refund.failure_reason,
        "attempts": refund.attempts,
        "next_attempt_at": refund.next_attempt_at,
        "created_at": refund.created_at,
        "updated_at": refund.updated_at,
    }


def _charge_values(charge: Charge) -> dict[str, Any]:
    return {
        "charge_id": charge.charge_id,
        "order_id": charge.order_id,
        "payment_id": charge.payment_id,
        "amount": charge.amount.amount,
        "currency": charge.amount.currency,
        "status": charge.status.value,
        "provider_reference": charge.provider_reference,
        "reason": charge.reason,
        "failure_reason": charge.failure_reason,
        "created_at": charge.created_at,
        "updated_at": charge.updated_at,
    }


def _to_charge(row: Any) -> Charge:
    return Charge(
        charge_id=row["charge_id"],
        order_id=row["order_id"],
        payment_id=row["payment_id"],
        amount=Money(amount=row["amount"], currency=row["currency"]),
        status=ChargeStatus(row["status"]),
        provider_reference=row["provider_reference"],
        reason=row["reason"],
        failure_reason=row["failure_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _to_payment(row: Any) -> Payment:
    return Payment(
        payment_id=row["payment_id"],
        order_id=row["order_id"],
        method=row["method"],
        provider=row["provider"],
        display=CardDisplay(
            brand=row["brand"],
            last4=row["last4"],
            exp_month=row["exp_month"],
            exp_year=row["exp_year"],
        ),
        amount=Money(amount=row["amount"], currency=row["currency"]),
        status=PaymentStatus(row["status"]),
        authorization_reference=row["authorization_reference"],
        capture_reference=row["capture_reference"],
        failure_reason=row["failure_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _to_void(row: Any) -> PaymentVoid:
    return PaymentVoid(
        refund_id=row["refund_id"],
        order_id=row["order_id"],
        reason=row["reason"],
        created_at=row["created_at"],
    )


def _to_refund(row: Any) -> Refund:
    return Refund(
        refund_id=row["refund_id"],
        order_id=row["order_id"],
        payment_id=row["payment_id"],
        amount=Money(amount=row["amount"], currency=row["currency"]),
        status=RefundStatus(row["status"]),
        provider_reference=row["provider_reference"],
        reason=row["reason"],
        requested_by=row["requested_by"],
        failure_reason=row["failure_reason"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _to_operation(row: Any) -> Operation:
    return Operation(
        idempotency_key=row["idempotency_key"],
        kind=OperationKind(row["kind"]),
        order_id=row["order_id"],
        payment_id=row["payment_id"],
        provider=row["provider"],
        amount=Money(amount=row["amount"], currency=row["currency"]),
        status=OperationStatus(row["status"]),
        provider_reference=row["provider_reference"],
        reason=row["reason"],
        requested_at=row["requested_at"],
        answered_at=row["answered_at"],
        refund_id=row["refund_id"],
        attempt=row["attempt"],
        charge_id=row["charge_id"],
    )
