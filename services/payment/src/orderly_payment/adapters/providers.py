"""Payment provider adapters: the port the handlers call, and a simulated provider.

A provider must be idempotent per idempotency key: a capture or refund retried
with the same key (after a crash between the provider's answer and our commit,
say) returns the first answer and moves no money again. A provider that does not
answer raises ProviderError: the outcome is unknown, so only the same key may ask
again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final, Protocol
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from orderly_kit.db import Database
from orderly_payment.adapters.orm import sim_provider_operations as operations
from orderly_schemas.base import Money


@dataclass(frozen=True)
class ProviderResult:
    """A provider's answer: approved or not, its reference, and why not."""

    approved: bool
    reference: str
    failure_reason: str | None = None


class ProviderError(Exception):
    """The provider gave no answer; it may or may not have executed the operation."""


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time."""


class PaymentProvider(Protocol):
    async def capture(
        self, *, idempotency_key: str, order_id: UUID, amount: Money, token: str
    ) -> ProviderResult:
        """Charge ``amount`` to the payment method behind ``token``."""
        ...

    async def refund(
        self, *, idempotency_key: str, order_id: UUID, payment_reference: str, amount: Money
    ) -> ProviderResult:
        """Return ``amount`` of the capture ``payment_reference``."""
        ...


DECLINE_PREFIX: Final = "tok_decline"
REFUND_FAIL_PREFIX: Final = "tok_refundfail"
REFUND_FLAKY_PREFIX: Final = "tok_refundflaky"
TIMEOUT_PREFIX: Final = "tok_timeout"
DECLINED: Final = "card declined by issuer"
REFUND_REJECTED: Final = "refund rejected by provider"
REFUND_REJECTED_FOR_NOW: Final = "refund temporarily rejected by provider"
#: How many refund attempts of a ``tok_refundflaky…`` capture fail before one succeeds.
FLAKY_REFUND_FAILURES: Final = 2

# The capture reference says how refunds of it behave, so that the refund call,
# which names only the capture, can tell.
_CAPTURE: Final = "sim_ch_"
_CAPTURE_REFUSING_REFUNDS: Final = "sim_chrf_"
_CAPTURE_FLAKY_REFUNDS: Final = "sim_chfl_"
_REFUND: Final = "sim_re_"

CAPTURE: Final = "capture"
REFUND: Final = "refund"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"


def _reference(prefix: str, idempotency_key: str) -> str:
    # Derived from the key, so a retried call gets the same reference even after a restart.
    return prefix + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


class SimulatedProvider:
    """A provider with its own durable record (``sim_provider_operations``).

    Approves every token but ``tok_decline…``; refunds of a ``tok_refundfail…``
    capture always fail, those of a ``tok_refundflaky…`` capture fail twice and then
    succeed; a ``tok_timeout…`` capture never answers. Each operation commits in the
    provider's own transaction, independently of the caller's, and a repeated
    idempotency key returns the recorded answer without executing anything.
    """

    def __init__(self, database: Database) -> None:
        self._database = database

    async def capture(
        self, *, idempotency_key: str, order_id: UUID, amount: Money, token: str
    ) -> ProviderResult:
        if token.startswith(TIMEOUT_PREFIX):
            # Charges nothing and records nothing: the caller cannot know that.
            raise ProviderTimeoutError(f"capture {idempotency_key}: no answer from the provider")
        async with self._database.engine.begin() as conn:
            recorded = await _recorded(conn, idempotency_key)
            if recorded is not None:
                return recorded
            if token.startswith(DECLINE_PREFIX):
                result = ProviderResult(False, _reference(_CAPTURE, idempotency_key), DECLINED)
            elif token.startswith(REFUND_FAIL_PREFIX):
                result = ProviderResult(
                    True, _reference(_CAPTURE_REFUSING_REFUNDS, idempotency_key)
                )
            elif token.startswith(REFUND_FLAKY_PREFIX):
                result = ProviderResult(True, _reference(_CAPTURE_FLAKY_REFUNDS, idempotency_key))
            else:
                result = ProviderResult(True, _reference(_CAPTURE, idempotency_key))
            return await _record(
                conn, idempotency_key, kind=CAPTURE, order_id=order_id, amount=amount, result=result
            )

    async def refund(
        self, *, idempotency_key: str, order_id: UUID, payment_reference: str, amount: Money
    ) -> ProviderResult:
        async with self._database.engine.begin() as conn:
            # One refund of a capture at a time: the checks below read its earlier refunds.
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"sim_provider:{payment_reference}"},
            )
            recorded = await _recorded(conn, idempotency_key)
            if recorded is not None:
                return recorded
            reference = _reference(_REFUND, idempotency_key)
            refusal = await _refund_refusal(conn, payment_reference, amount)
            result = ProviderResult(refusal is None, reference, refusal)
            return await _record(
                conn,
                idempotency_key,
                kind=REFUND,
                order_id=order_id,
                amount=amount,
                result=result,
                payment_reference=payment_reference,
            )


async def _recorded(conn: AsyncConnection, idempotency_key: str) -> ProviderResult | None:
    query = select(operations).where(operations.c.idempotency_key == idempotency_key)
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    return ProviderResult(row["outcome"] == SUCCEEDED, row["reference"], row["failure_reason"])


async def _record(
    conn: AsyncConnection,
    idempotency_key: str,
    *,
    kind: str,
    order_id: UUID,
    amount: Money,
    result: ProviderResult,
    payment_reference: str | None = None,
) -> ProviderResult:
    """Record the operation, or return the answer a concurrent call with the key recorded."""
    inserted = await conn.execute(
        pg_insert(operations)
        .values(
            idempotency_key=idempotency_key,
            kind=kind,
            order_id=order_id,
            amount=amount.amount,
            currency=amount.currency,
            outcome=SUCCEEDED if result.approved else FAILED,
            failure_reason=result.failure_reason,
            reference=result.reference,
            payment_reference=payment_reference,
        )
        # No arbiter named: the reference, derived from the key, is unique too, and a
        # concurrent insert may meet it first; either conflict means "already recorded".
        .on_conflict_do_nothing()
        .returning(operations.c.id)
    )
    if inserted.first() is not None:
        return result
    recorded = await _recorded(conn, idempotency_key)
    assert recorded is not None, f"operation {idempotency_key} conflicted but is not recorded"
    return recorded


async def _refund_refusal(
    conn: AsyncConnection, payment_reference: str, amount: Money
) -> str | None:
    """Why the provider rejects this refund of ``payment_reference``, or None."""
    capture = (
        (
            await conn.execute(
                select(operations)
                .where(operations.c.reference == payment_reference)
                .where(operations.c.kind == CAPTURE)
                .where(operations.c.outcome == SUCCEEDED)
            )
        )
        .mappings()
        .first()
    )
    if capture is None:
        return f"no charge {payment_reference} to refund"
    if payment_reference.startswith(_CAPTURE_REFUSING_REFUNDS):
        return REFUND_REJECTED
    earlier = select(operations).where(operations.c.payment_reference == payment_reference)
    if payment_reference.startswith(_CAPTURE_FLAKY_REFUNDS):
        tried = await conn.scalar(select(func.count()).select_from(earlier.subquery()))
        if (tried or 0) < FLAKY_REFUND_FAILURES:
            return REFUND_REJECTED_FOR_NOW
    if amount.currency != capture["currency"]:
        return f"refund currency {amount.currency} differs from the charge's {capture['currency']}"
    refunded = await conn.scalar(
        select(func.coalesce(func.sum(operations.c.amount), 0))
        .where(operations.c.payment_reference == payment_reference)
        .where(operations.c.outcome == SUCCEEDED)
    )
    if amount.amount > capture["amount"] - int(refunded or 0):
        return f"refund of {amount.amount} exceeds what is left of the charge"
    return None


# -- for invariant checks -------------------------------------------------------------

#: The view (created by the migration) of what the simulated provider executed per order.
ORDER_TOTALS_VIEW: Final = "sim_provider_order_totals"


@dataclass(frozen=True)
class ExecutedTotals:
    """What the simulated provider executed for one order (succeeded operations only)."""

    order_id: UUID
    currency: str
    captures: int
    captured_amount: int
    refunds: int
    refunded_amount: int


async def executed_totals(database: Database) -> list[ExecutedTotals]:
    """Succeeded captures and refunds per order (and currency), from the provider's record."""
    query = text(f"SELECT * FROM {ORDER_TOTALS_VIEW} ORDER BY order_id, currency")
    async with database.engine.connect() as conn:
        return [_totals(row) for row in (await conn.execute(query)).mappings()]


def _totals(row: Any) -> ExecutedTotals:
    return ExecutedTotals(
        order_id=row["order_id"],
        currency=row["currency"],
        captures=row["captures"],
        captured_amount=row["captured_amount"],
        refunds=row["refunds"],
        refunded_amount=row["refunded_amount"],
    )
