"""Payment provider adapters: the port the handlers call, and the simulated providers.

A provider must be idempotent per idempotency key: an operation retried with the
same key (after a crash between the provider's answer and our commit, say)
returns the first answer and moves no money again. A provider that does not
answer raises ProviderError: the outcome is unknown, so only the same key may ask
again. A provider may also answer "pending": it took the operation and will say
how it ended by webhook (``POST /providers/{name}/webhooks``, signed, see
``orderly_kit.webhook_signature``), whose body the port translates (``read_webhook``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Literal, Protocol
from uuid import UUID, uuid4

import httpx
from pydantic import BaseModel, Field
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from orderly_kit import webhook_sender
from orderly_kit.clock import Clock, utc_now
from orderly_kit.db import Database, insert_unless_exists
from orderly_payment.adapters.orm import sim_provider_operations as operations
from orderly_payment.adapters.orm import sim_provider_webhooks as webhooks
from orderly_payment.domain.ledger import OperationKind
from orderly_schemas.base import Money

log = logging.getLogger(__name__)

#: What a recorded operation returns: all of it (read once, not per operation).
_EVERY_OPERATION_COLUMN = tuple(operations.c.keys())


class ResultStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    PENDING = "pending"  # the provider answers later, by webhook


@dataclass(frozen=True)
class ProviderResult:
    """A provider's answer: approved, declined (and why), or pending; and its reference."""

    status: ResultStatus
    reference: str
    failure_reason: str | None = None

    @property
    def approved(self) -> bool:
        return self.status is ResultStatus.APPROVED

    @property
    def pending(self) -> bool:
        return self.status is ResultStatus.PENDING


@dataclass(frozen=True)
class WebhookEvent:
    """A provider's webhook, read: one delivery saying how one of its operations ended."""

    #: The same for every retry of the delivery: a delivery is applied once.
    delivery_id: str
    event_type: str
    kind: OperationKind
    reference: str
    approved: bool
    reason: str | None


class ProviderError(Exception):
    """The provider gave no answer; it may or may not have executed the operation."""


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time."""


class PaymentProvider(Protocol):
    """One payment provider's API, as the payment service needs it."""

    @property
    def name(self) -> str:
        """The provider's name: in the ledger, and in its webhook's path."""
        ...

    async def authorize(
        self, *, idempotency_key: str, order_id: UUID, amount: Money, token: str
    ) -> ProviderResult:
        """Hold ``amount`` on the payment method behind ``token``."""
        ...

    async def capture(
        self, *, idempotency_key: str, order_id: UUID, authorization_reference: str, amount: Money
    ) -> ProviderResult:
        """Take ``amount`` of the authorization ``authorization_reference``."""
        ...

    async def void(
        self, *, idempotency_key: str, order_id: UUID, authorization_reference: str, amount: Money
    ) -> ProviderResult:
        """Release an authorization that will never be captured."""
        ...

    async def refund(
        self, *, idempotency_key: str, order_id: UUID, payment_reference: str, amount: Money
    ) -> ProviderResult:
        """Return ``amount`` of the capture or charge ``payment_reference``."""
        ...

    async def charge(
        self, *, idempotency_key: str, order_id: UUID, amount: Money, token: str
    ) -> ProviderResult:
        """Take ``amount`` from the payment method behind ``token``: authorized and captured
        in one operation, refunded by its own reference."""
        ...

    def read_webhook(self, body: bytes) -> WebhookEvent:
        """Translate the provider's (verified) webhook body; a ValidationError if unreadable."""
        ...


class Providers:
    """The provider adapter of each payment method, and each adapter by its name."""

    def __init__(self, by_method: Mapping[str, PaymentProvider]) -> None:
        self._by_method = dict(by_method)
        self._by_name = {p.name: p for p in self._by_method.values()}

    def for_method(self, method: str) -> PaymentProvider | None:
        return self._by_method.get(method)

    def named(self, name: str) -> PaymentProvider | None:
        return self._by_name.get(name)

    @property
    def methods(self) -> dict[str, str]:
        """Each payment method and the name of its provider."""
        return {m: p.name for m, p in self._by_method.items()}

    def all(self) -> list[PaymentProvider]:
        return list(self._by_name.values())


# -- the simulated providers ------------------------------------------------------------
# A token's prefix chooses what the simulated provider does, so that a test (or the
# demo's checkout) can pick each outcome.
DECLINE_PREFIX: Final = "tok_decline"
TIMEOUT_PREFIX: Final = "tok_timeout"
WEBHOOK_PREFIX: Final = "tok_webhook"  # answered later by webhook: approved...
WEBHOOK_DECLINE_PREFIX: Final = "tok_webhook_decline"  # ...or declined
REFUND_FAIL_PREFIX: Final = "tok_refundfail"
REFUND_FLAKY_PREFIX: Final = "tok_refundflaky"
HOLD_PREFIX: Final = "tok_hold"  # the capture (a charge) executes, then its answer is held
REFUND_HOLD_PREFIX: Final = "tok_refundhold"  # each refund executes, then is held back

DECLINED: Final = "card declined by issuer"
#: ``tok_decline_<code>…`` declines with the reason of its code.
DECLINE_REASONS: Final = {
    "funds": "insufficient funds",
    "expired": "card expired",
    "fraud": "suspected fraud",
    "limit": "over the method's limit",
}
WEBHOOK_DECLINED: Final = "declined by the customer's bank after review"
REFUND_REJECTED: Final = "refund rejected by provider"
REFUND_REJECTED_FOR_NOW: Final = "refund temporarily rejected by provider"
#: How many refund attempts of a ``tok_refundflaky…`` payment fail before one succeeds.
FLAKY_REFUND_FAILURES: Final = 2

AUTHORIZE: Final = "authorize"
CAPTURE: Final = "capture"
VOID: Final = "void"
REFUND: Final = "refund"
CHARGE: Final = "charge"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"

NORMAL: Final = "normal"
REFUND_FAILS: Final = "refund_fails"
REFUND_FLAKY: Final = "refund_flaky"
HOLD: Final = "hold"
REFUND_HOLD: Final = "refund_hold"

#: Webhook event types a simulated provider sends.
AUTHORIZATION_SUCCEEDED: Final = "authorization.succeeded"
AUTHORIZATION_FAILED: Final = "authorization.failed"
CHARGE_SUCCEEDED: Final = "charge.succeeded"
CHARGE_FAILED: Final = "charge.failed"
WebhookType = Literal[
    "authorization.succeeded", "authorization.failed", "charge.succeeded", "charge.failed"
]
#: The operation each event type answers, and whether it approves it.
_WEBHOOK_ANSWERS: Final[dict[str, tuple[OperationKind, bool]]] = {
    AUTHORIZATION_SUCCEEDED: (OperationKind.AUTHORIZE, True),
    AUTHORIZATION_FAILED: (OperationKind.AUTHORIZE, False),
    CHARGE_SUCCEEDED: (OperationKind.CHARGE, True),
    CHARGE_FAILED: (OperationKind.CHARGE, False),
}
#: The webhook that answers a pending operation of each kind: (approved, declined).
_WEBHOOK_TYPES: Final[dict[str, tuple[WebhookType, WebhookType]]] = {
    AUTHORIZE: (AUTHORIZATION_SUCCEEDED, AUTHORIZATION_FAILED),
    CHARGE: (CHARGE_SUCCEEDED, CHARGE_FAILED),
}


class SimulatedWebhookData(BaseModel):
    """The operation a simulated provider's webhook tells of."""

    reference: str = Field(min_length=1, max_length=200, description="the operation's reference")
    order_id: UUID
    amount: int = Field(ge=0, description="minor units")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reason: str | None = Field(default=None, max_length=2000, description="why it failed")


class SimulatedWebhook(BaseModel):
    """The body of a simulated provider's webhook."""

    id: str = Field(
        min_length=1, max_length=200, description="the delivery id, the same on every retry"
    )
    type: WebhookType
    created: int = Field(ge=0, description="when the answer was given, in unix seconds")
    data: SimulatedWebhookData


_SHORT: Final = {AUTHORIZE: "au", CAPTURE: "ch", VOID: "vo", REFUND: "re", CHARGE: "sa"}


def _behaviour(token: str) -> str:
    for prefix, behaviour in (
        (REFUND_FAIL_PREFIX, REFUND_FAILS),
        (REFUND_FLAKY_PREFIX, REFUND_FLAKY),
        (REFUND_HOLD_PREFIX, REFUND_HOLD),
        (HOLD_PREFIX, HOLD),
    ):
        if token.startswith(prefix):
            return behaviour
    return NORMAL


def _decline_reason(token: str) -> str | None:
    if not token.startswith(DECLINE_PREFIX):
        return None
    code = token[len(DECLINE_PREFIX) :].lstrip("_").split("_", 1)[0]
    return DECLINE_REASONS.get(code, DECLINED)


@dataclass(frozen=True)
class _Recorded:
    result: ProviderResult
    behaviour: str


class SimulatedProvider:
    """A provider with its own durable record (``sim_provider_operations``).

    Approves every token but ``tok_decline…`` (``tok_decline_funds…`` and the other
    codes of DECLINE_REASONS say why) and ``tok_timeout…``, which never answers.
    ``tok_webhook…`` authorizations and charges answer "pending" and are approved by a
    webhook ``webhook_delay`` later (``tok_webhook_decline…``: declined). Refunds of a
    ``tok_refundfail…`` payment (or charge) always fail, those of ``tok_refundflaky…``
    fail twice and then succeed. The capture or charge of a ``tok_hold…`` payment (each
    refund of a ``tok_refundhold…`` one) executes and then keeps its answer back for
    ``hold_seconds``, as a lost response would: the caller can be killed meanwhile.

    Each operation commits in the provider's own transaction, independently of the
    caller's, and a repeated idempotency key returns the recorded answer at once
    without executing anything. ``clock`` (the service's, in the service) says when a
    webhook is due and whether its answer is still under review.
    """

    def __init__(
        self,
        database: Database,
        *,
        name: str = "sim-card",
        webhook_delay: timedelta = timedelta(seconds=1),
        hold_seconds: float = 30.0,
        clock: Clock = utc_now,
    ) -> None:
        self._database = database
        self._clock = clock
        self._name = name
        self._prefix = name.replace("-", "")
        self.webhook_delay = webhook_delay
        self.hold_seconds = hold_seconds
        self.sender = webhook_sender.WebhookSender(
            database,
            name=name,
            table=webhooks,
            due="due_at",
            body=_webhook_body,
            describe=lambda row: f"webhook {row['delivery_id']}",
            owner=webhooks.c.provider == name,
            clock=clock,
        )

    @property
    def name(self) -> str:
        return self._name

    def _reference(self, kind: str, idempotency_key: str) -> str:
        # Derived from the key, so a retried call gets the same reference even after a restart.
        digest = hashlib.sha256(f"{self._name}:{idempotency_key}".encode()).hexdigest()[:24]
        return f"{self._prefix}_{_SHORT[kind]}_{digest}"

    async def authorize(
        self, *, idempotency_key: str, order_id: UUID, amount: Money, token: str
    ) -> ProviderResult:
        return await self._take(AUTHORIZE, idempotency_key, order_id, amount, token)

    async def charge(
        self, *, idempotency_key: str, order_id: UUID, amount: Money, token: str
    ) -> ProviderResult:
        return await self._take(CHARGE, idempotency_key, order_id, amount, token)

    async def _take(
        self, kind: str, idempotency_key: str, order_id: UUID, amount: Money, token: str
    ) -> ProviderResult:
        """Authorize, or charge, the method behind ``token`` once per key, as its prefix says."""
        if token.startswith(TIMEOUT_PREFIX):
            # Holds nothing and records nothing: the caller cannot know that.
            raise ProviderTimeoutError(
                f"{kind} {idempotency_key}: no answer from the provider ({self._name})"
            )
        behaviour = _behaviour(token)
        async with self._database.engine.begin() as conn:
            recorded = await self._recorded(conn, idempotency_key)
            if recorded is not None:
                return recorded.result
            reference = self._reference(kind, idempotency_key)
            later = token.startswith(WEBHOOK_PREFIX)
            if token.startswith(WEBHOOK_DECLINE_PREFIX):
                reason: str | None = WEBHOOK_DECLINED
            else:
                reason = _decline_reason(token)
            answer_at = self._clock() + self.webhook_delay if later else None
            recorded = await self._record(
                conn,
                idempotency_key,
                kind=kind,
                order_id=order_id,
                amount=amount,
                succeeded=reason is None,
                reference=reference,
                failure_reason=reason,
                behaviour=behaviour,
                answer_at=answer_at,
            )
            if later and answer_at is not None:
                approved, declined = _WEBHOOK_TYPES[kind]
                await self._owe_webhook(
                    conn,
                    event_type=declined if reason else approved,
                    reference=reference,
                    order_id=order_id,
                    amount=amount,
                    reason=reason,
                    due_at=answer_at,
                )
        if (kind, behaviour) == (CHARGE, HOLD):
            await asyncio.sleep(self.hold_seconds)  # executed; the answer is "lost" for now
        return recorded.result

    async def capture(
        self, *, idempotency_key: str, order_id: UUID, authorization_reference: str, amount: Money
    ) -> ProviderResult:
        async def judge(conn: AsyncConnection) -> tuple[str | None, str]:
            authorization = await _operation(conn, authorization_reference, AUTHORIZE)
            refusal = await _capture_refusal(
                conn, authorization, authorization_reference, amount, now=self._clock()
            )
            # The capture behaves as the payment method the authorization held.
            return refusal, authorization["behaviour"] if authorization else NORMAL

        return await self._execute(
            CAPTURE, idempotency_key, order_id, amount, of=authorization_reference, judge=judge
        )

    async def void(
        self, *, idempotency_key: str, order_id: UUID, authorization_reference: str, amount: Money
    ) -> ProviderResult:
        async def judge(conn: AsyncConnection) -> tuple[str | None, str]:
            captured = await conn.scalar(
                select(func.count())
                .select_from(operations)
                .where(operations.c.payment_reference == authorization_reference)
                .where(operations.c.kind == CAPTURE)
                .where(operations.c.outcome == SUCCEEDED)
            )
            if captured:
                return (
                    f"authorization {authorization_reference} was captured; refund it instead",
                    NORMAL,
                )
            return None, NORMAL

        return await self._execute(
            VOID, idempotency_key, order_id, amount, of=authorization_reference, judge=judge
        )

    async def refund(
        self, *, idempotency_key: str, order_id: UUID, payment_reference: str, amount: Money
    ) -> ProviderResult:
        async def judge(conn: AsyncConnection) -> tuple[str | None, str]:
            taken = await _operation(conn, payment_reference, CAPTURE) or await _operation(
                conn, payment_reference, CHARGE
            )
            refusal = await _refund_refusal(conn, taken, payment_reference, amount)
            return refusal, taken["behaviour"] if taken else NORMAL

        return await self._execute(
            REFUND, idempotency_key, order_id, amount, of=payment_reference, judge=judge
        )

    async def _execute(
        self,
        kind: str,
        idempotency_key: str,
        order_id: UUID,
        amount: Money,
        *,
        of: str,
        judge: Callable[[AsyncConnection], Awaitable[tuple[str | None, str]]],
    ) -> ProviderResult:
        """Execute an operation ``of`` an earlier one once per key; ``judge`` says why not.

        ``judge`` returns the refusal (None to execute) and the payment method's behaviour.
        """
        async with self._database.engine.begin() as conn:
            # One operation on an authorization or a capture at a time: the checks read the
            # operations already made on it.
            await _lock(conn, of)
            recorded = await self._recorded(conn, idempotency_key)
            if recorded is not None:
                return recorded.result
            refusal, behaviour = await judge(conn)
            recorded = await self._record(
                conn,
                idempotency_key,
                kind=kind,
                order_id=order_id,
                amount=amount,
                succeeded=refusal is None,
                reference=self._reference(kind, idempotency_key),
                failure_reason=refusal,
                payment_reference=of,
                behaviour=behaviour,
            )
        if (kind, behaviour) in ((CAPTURE, HOLD), (REFUND, REFUND_HOLD)):
            await asyncio.sleep(self.hold_seconds)  # executed; the answer is "lost" for now
        return recorded.result

    def read_webhook(self, body: bytes) -> WebhookEvent:
        hook = SimulatedWebhook.model_validate_json(body)
        kind, approved = _WEBHOOK_ANSWERS[hook.type]
        return WebhookEvent(
            delivery_id=hook.id,
            event_type=hook.type,
            kind=kind,
            reference=hook.data.reference,
            approved=approved,
            reason=None if approved else hook.data.reason,
        )

    async def send_due_webhooks(
        self,
        client: httpx.AsyncClient,
        *,
        url: str,
        secret: str,
        now: datetime | None = None,
        batch: int = webhook_sender.BATCH,
    ) -> int:
        """POST this provider's webhooks that are due, signed with ``secret``; how many it took.

        Leases, retries and giving up are ``orderly_kit.webhook_sender``'s; the receiver
        dedups a second delivery of a webhook by its id.
        """
        return await self.sender.send_due(client, url=url, secret=secret, now=now, batch=batch)

    # -- its record ---------------------------------------------------------------------
    async def _recorded(self, conn: AsyncConnection, idempotency_key: str) -> _Recorded | None:
        query = select(operations).where(operations.c.idempotency_key == idempotency_key)
        row = (await conn.execute(query)).mappings().first()
        return None if row is None else _as_recorded(row, now=self._clock())

    async def _record(
        self,
        conn: AsyncConnection,
        idempotency_key: str,
        *,
        kind: str,
        order_id: UUID,
        amount: Money,
        succeeded: bool,
        reference: str,
        failure_reason: str | None,
        payment_reference: str | None = None,
        behaviour: str = NORMAL,
        answer_at: datetime | None = None,
    ) -> _Recorded:
        """Record the operation, or return what a concurrent call with the key recorded."""
        values = {
            "provider": self._name,
            "idempotency_key": idempotency_key,
            "kind": kind,
            "order_id": order_id,
            "amount": amount.amount,
            "currency": amount.currency,
            "outcome": SUCCEEDED if succeeded else FAILED,
            "failure_reason": failure_reason,
            "reference": reference,
            "payment_reference": payment_reference,
            "behaviour": behaviour,
            "answer_at": answer_at,
        }
        # No arbiter named: the reference, derived from the key, is unique too, and a
        # concurrent insert may meet it first; either conflict means "already recorded".
        inserted = await conn.execute(
            insert_unless_exists(operations, tuple(values), returning=_EVERY_OPERATION_COLUMN),
            values,
        )
        row = inserted.mappings().first()
        if row is not None:
            return _as_recorded(row, now=self._clock())
        recorded = await self._recorded(conn, idempotency_key)
        assert recorded is not None, f"operation {idempotency_key} conflicted but is not recorded"
        return recorded

    async def _owe_webhook(
        self,
        conn: AsyncConnection,
        *,
        event_type: WebhookType,
        reference: str,
        order_id: UUID,
        amount: Money,
        reason: str | None,
        due_at: datetime,
    ) -> None:
        hook = SimulatedWebhook(
            id=f"evt_{uuid4().hex}",
            type=event_type,
            created=int(due_at.timestamp()),
            data=SimulatedWebhookData(
                reference=reference,
                order_id=order_id,
                amount=amount.amount,
                currency=amount.currency,
                reason=reason,
            ),
        )
        await conn.execute(
            pg_insert(webhooks).values(
                provider=self._name,
                delivery_id=hook.id,
                payload=hook.model_dump(mode="json"),
                due_at=due_at,
            )
        )


def _webhook_body(row: Mapping[str, Any]) -> bytes:
    return json.dumps(row["payload"]).encode()


def _as_recorded(row: Any, *, now: datetime) -> _Recorded:
    answer_at: datetime | None = row["answer_at"]
    if answer_at is not None and answer_at > now:
        status = ResultStatus.PENDING  # the webhook has not told yet
    elif row["outcome"] == SUCCEEDED:
        status = ResultStatus.APPROVED
    else:
        status = ResultStatus.DECLINED
    reason = row["failure_reason"] if status is ResultStatus.DECLINED else None
    return _Recorded(ProviderResult(status, row["reference"], reason), row["behaviour"])


async def _lock(conn: AsyncConnection, reference: str) -> None:
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"sim_provider:{reference}"},
    )


async def _operation(conn: AsyncConnection, reference: str, kind: str) -> Any:
    query = (
        select(operations)
        .where(operations.c.reference == reference)
        .where(operations.c.kind == kind)
    )
    return (await conn.execute(query)).mappings().first()


async def _capture_refusal(
    conn: AsyncConnection, authorization: Any, reference: str, amount: Money, *, now: datetime
) -> str | None:
    if authorization is None or authorization["outcome"] != SUCCEEDED:
        return f"no approved authorization {reference} to capture"
    answer_at = authorization["answer_at"]
    if answer_at is not None and answer_at > now:
        return f"authorization {reference} is still under review"
    if amount.currency != authorization["currency"] or amount.amount > authorization["amount"]:
        return (
            f"capture of {amount.amount} {amount.currency} exceeds the authorization"
            f" ({authorization['amount']} {authorization['currency']})"
        )
    voided = await conn.scalar(
        select(func.count())
        .select_from(operations)
        .where(operations.c.payment_reference == reference)
        .where(operations.c.kind == VOID)
        .where(operations.c.outcome == SUCCEEDED)
    )
    if voided:
        return f"authorization {reference} was voided"
    return None


async def _refund_refusal(
    conn: AsyncConnection, capture: Any, payment_reference: str, amount: Money
) -> str | None:
    """Why the provider rejects this refund of ``payment_reference``, or None."""
    if capture is None or capture["outcome"] != SUCCEEDED:
        return f"no charge {payment_reference} to refund"
    if capture["behaviour"] == REFUND_FAILS:
        return REFUND_REJECTED
    earlier = select(operations).where(operations.c.payment_reference == payment_reference)
    if capture["behaviour"] == REFUND_FLAKY:
        tried = await conn.scalar(select(func.count()).select_from(earlier.subquery()))
        if (tried or 0) < FLAKY_REFUND_FAILURES:
            return REFUND_REJECTED_FOR_NOW
    if amount.currency != capture["currency"]:
        return f"refund currency {amount.currency} differs from the charge's {capture['currency']}"
    refunded = await conn.scalar(
        select(func.coalesce(func.sum(operations.c.amount), 0))
        .where(operations.c.payment_reference == payment_reference)
        .where(operations.c.kind == REFUND)
        .where(operations.c.outcome == SUCCEEDED)
    )
    if amount.amount > capture["amount"] - int(refunded or 0):
        return f"refund of {amount.amount} exceeds what is left of the charge"
    return None


# -- for invariant checks -------------------------------------------------------------

#: The view (created by the migration) of what the simulated providers executed per order.
ORDER_TOTALS_VIEW: Final = "sim_provider_order_totals"


@dataclass(frozen=True)
class ExecutedTotals:
    """What the simulated providers executed for one order (succeeded operations only)."""

    order_id: UUID
    currency: str
    captures: int
    captured_amount: int
    refunds: int
    refunded_amount: int
    charges: int
    charged_amount: int


async def executed_totals(database: Database) -> list[ExecutedTotals]:
    """Succeeded captures, charges and refunds per order (and currency), from the providers'
    record."""
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
        charges=row["charges"],
        charged_amount=row["charged_amount"],
    )
