"""Effectively-once consumption and publication.

A consumed message, its effects, its inbox row and the messages it causes are
committed in ONE transaction; the Kafka offset is committed only afterwards
(FastStream's ack runs after this middleware returns). A redelivered message
finds its inbox row and changes nothing. Transient errors are retried with
exponential backoff; a poison message, or one that keeps failing, is written to
``<topic>.dlq`` through the outbox, in the same transaction as an inbox row that
records it as dead-lettered, so dead letters are neither lost nor duplicated.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from faststream import BaseMiddleware
from faststream._internal.context.repository import ContextRepo
from faststream.message import StreamMessage
from opentelemetry import propagate
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit import outbox as outbox_mod
from orderly_kit.card_data import (
    card_number_fields,
    describe,
    looks_like_card_number,
    redact_card_numbers,
    without_card_numbers,
)
from orderly_kit.context import current_message_id, current_order_id
from orderly_kit.db import Database
from orderly_schemas.base import Message
from orderly_schemas.catalogue import UnknownMessageTypeError
from orderly_schemas.cloudevents import TRACEPARENT, TRACESTATE, Envelope, MissingHeaderError
from orderly_schemas.topics import dead_letter_topic

log = logging.getLogger(__name__)

UOW_CONTEXT_KEY: Final = "uow"

# Dead-letter headers: the reason and where the message came from.
DLQ_ERROR: Final = "dlq_error"
DLQ_ERROR_TYPE: Final = "dlq_error_type"
DLQ_ATTEMPTS: Final = "dlq_attempts"
DLQ_CONSUMER: Final = "dlq_consumer"
DLQ_ORIGINAL_TOPIC: Final = "dlq_original_topic"
DLQ_ORIGINAL_PARTITION: Final = "dlq_original_partition"
DLQ_ORIGINAL_OFFSET: Final = "dlq_original_offset"
DLQ_FAILED_AT: Final = "dlq_failed_at"
DLQ_HEADER_PREFIX: Final = "dlq_"

# Inbox outcomes. A dead-lettered row is claimed again by a replay; a discarded one never.
OUTCOME_PROCESSED: Final = "processed"
OUTCOME_DEAD_LETTERED: Final = "dead_lettered"
OUTCOME_DISCARDED: Final = "discarded"

DEAD_LETTERED = Counter(
    "orderly_dead_letters_total",
    "Messages sent to a dead-letter topic",
    ["service", "topic", "error_type"],
)
DEAD_LETTERS_WAITING = Gauge(
    "orderly_dead_letters_waiting",
    "Dead letters of this service not yet replayed (inbox rows still dead_lettered)",
    ["service", "topic"],
)
DUPLICATES = Counter(
    "orderly_duplicate_messages_total",
    "Redelivered messages skipped by the inbox",
    ["service", "topic"],
)
RETRIES = Counter(
    "orderly_message_retries_total",
    "Handler attempts that failed and were retried",
    ["service", "topic"],
)


class PoisonMessageError(Exception):
    """A message that can never be handled: dead-letter it at once, without retries."""


class CardNumberError(PoisonMessageError):
    """A message carries something that looks like a card number (named, never echoed)."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(describe(fields))
        self.fields = tuple(fields)


# Errors that no retry can cure.
POISON_ERRORS: tuple[type[BaseException], ...] = (
    PoisonMessageError,
    ValidationError,
    MissingHeaderError,
    UnknownMessageTypeError,
    json.JSONDecodeError,
    UnicodeDecodeError,
)


def fallback_message_id(topic: str, partition: int, offset: int) -> str:
    """The inbox id of a message without a readable CloudEvents envelope: its position."""
    return f"kafka:{topic}:{partition}:{offset}"


# W3C trace context: hex written by our own instrumentation, never a place for a card
# number, and a span id of sixteen decimal digits (one in two thousand) would match.
_UNSCANNED_HEADERS: Final = frozenset({TRACEPARENT, TRACESTATE})


@dataclass(frozen=True, slots=True)
class _CardNumbersRefused:
    """A message with card numbers: the error naming where, and the message without them."""

    error: CardNumberError
    key: bytes | None
    body: bytes
    headers: dict[str, str]


def _refuse_card_numbers(
    key: bytes | None, body: bytes, headers: dict[str, str]
) -> _CardNumbersRefused | None:
    """Scan the raw message (before any parsing into a model, whose errors could quote it)."""
    try:
        data = json.loads(body)
        fields = card_number_fields(data)
        clean_body = (
            json.dumps(
                without_card_numbers(data), ensure_ascii=False, separators=(",", ":")
            ).encode()
            if fields
            else body
        )
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or absurdly deep: as text
        text = body.decode(errors="replace")
        fields = ["(body)"] if looks_like_card_number(text) else []
        clean_body = redact_card_numbers(text).encode() if fields else body
    scanned = {k: v for k, v in headers.items() if k not in _UNSCANNED_HEADERS}
    fields += [f"headers.{name}" for name in card_number_fields(scanned)]
    key_text = key.decode(errors="replace") if key else ""
    if looks_like_card_number(key_text):
        fields.append("key")
    if not fields:
        return None
    return _CardNumbersRefused(
        error=CardNumberError(fields),
        key=redact_card_numbers(key_text).encode() if key else None,
        body=clean_body,
        headers={
            **without_card_numbers(scanned),
            **{k: v for k, v in headers.items() if k in _UNSCANNED_HEADERS},
        },
    )


def _key_of(message: Message) -> str | None:
    order_id = getattr(message, "order_id", None)
    return str(order_id) if order_id is not None else None


class UnitOfWork:
    """One transaction: the session for state changes and the outbox for messages."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        outbox: Table,
        source: str,
        cause: Envelope | None = None,
    ) -> None:
        self.session = session
        self._outbox = outbox
        self._source = source
        self._cause = cause
        self.published: list[Message] = []

    @property
    def cause(self) -> Envelope | None:
        """The envelope of the message being handled, or None outside a consumer."""
        return self._cause

    async def publish(self, message: Message, *, key: str | None = None) -> Envelope:
        """Queue ``message`` for publication when this transaction commits."""
        key = key or _key_of(message)
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        cause = self._cause
        envelope = Envelope(
            type=message.message_type(),
            source=self._source,
            subject=key,
            correlation_id=(cause.correlation_id if cause and cause.correlation_id else key),
            causation_id=cause.id if cause else None,
            traceparent=carrier.get("traceparent"),
            tracestate=carrier.get("tracestate"),
        )
        await outbox_mod.write(
            self.session,
            self._outbox,
            topic=message.topic,
            key=key,
            message_type=message.message_type(),
            headers=envelope.to_headers(),
            payload=message.model_dump_json().encode(),
        )
        self.published.append(message)
        return envelope


@dataclass
class Messaging:
    """A service's outbox, inbox and signal, and the transactions that use them."""

    database: Database
    outbox: Table
    inbox: Table
    service: str
    signal: outbox_mod.OutboxSignal
    max_attempts: int = 5
    backoff_ms: int = 50
    backoff_max_ms: int = 2_000
    #: Topics whose messages must never carry a card number: one that does is
    #: dead-lettered at once, with the card numbers removed from the dead letter.
    card_data_topics: frozenset[str] = frozenset()

    @property
    def source(self) -> str:
        return f"/orderly/{self.service}"

    @asynccontextmanager
    async def unit_of_work(self, cause: Envelope | None = None) -> AsyncIterator[UnitOfWork]:
        """A transaction for work not driven by a message (HTTP, schedules)."""
        async with self.database.transaction() as session:
            uow = UnitOfWork(session, outbox=self.outbox, source=self.source, cause=cause)
            yield uow
        if uow.published:
            self.signal.notify()

    def middleware(self) -> Callable[..., BaseMiddleware]:
        """The FastStream middleware factory that gives effectively-once consumption."""
        messaging = self

        def factory(msg: Any, /, *, context: ContextRepo) -> BaseMiddleware:
            return _TransactionalMiddleware(msg, context=context, messaging=messaging)

        return factory

    def backoff(self, attempt: int) -> float:
        delay = min(self.backoff_ms * 2 ** (attempt - 1), self.backoff_max_ms) / 1000
        return float(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not crypto

    async def handle(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        body: bytes,
        headers: dict[str, str],
        call: Callable[[], Awaitable[Any]],
        context: ContextRepo,
    ) -> Any:
        """Run ``call`` once per message id with inbox, effects and outbox in one transaction."""
        refused = (
            _refuse_card_numbers(key, body, headers) if topic in self.card_data_topics else None
        )
        if refused is not None:
            # From here on only the redacted message exists: envelope, inbox row, dead letter.
            key, body, headers = refused.key, refused.body, refused.headers
        try:
            envelope: Envelope | None = Envelope.from_headers(headers)
            error: BaseException | None = None
        except MissingHeaderError as exc:
            envelope, error = None, exc
        if refused is not None:
            error = refused.error
        message_id = envelope.id if envelope else fallback_message_id(topic, partition, offset)
        order_token = current_order_id.set(
            (envelope.correlation_id or envelope.subject) if envelope else None
        )
        id_token = current_message_id.set(message_id)
        try:
            attempt = 0
            while error is None:
                attempt += 1
                try:
                    return await self._attempt(topic, message_id, envelope, call, context)
                except POISON_ERRORS as exc:
                    error = exc
                except Exception as exc:
                    if attempt >= self.max_attempts:
                        error = exc
                        break
                    RETRIES.labels(self.service, topic).inc()
                    delay = self.backoff(attempt)
                    log.warning(
                        "attempt %d of %d failed (%s: %s); retrying in %.3fs",
                        attempt,
                        self.max_attempts,
                        type(exc).__name__,
                        exc,
                        delay,
                    )
                    await asyncio.sleep(delay)
            await self._dead_letter(
                topic=topic,
                partition=partition,
                offset=offset,
                key=key,
                body=body,
                headers=headers,
                message_id=message_id,
                envelope=envelope,
                error=error,
                attempts=max(attempt, 1),
            )
            return None
        finally:
            current_order_id.reset(order_token)
            current_message_id.reset(id_token)

    async def _attempt(
        self,
        topic: str,
        message_id: str,
        envelope: Envelope | None,
        call: Callable[[], Awaitable[Any]],
        context: ContextRepo,
    ) -> Any:
        async with self.database.transaction() as session:
            if not await self._claim(session, topic, message_id, envelope):
                DUPLICATES.labels(self.service, topic).inc()
                log.info("message %s already processed; skipped", message_id)
                return None
            uow = UnitOfWork(session, outbox=self.outbox, source=self.source, cause=envelope)
            with context.scope(UOW_CONTEXT_KEY, uow):
                result = await call()
        if uow.published:
            self.signal.notify()
        return result

    async def _claim(
        self,
        session: AsyncSession,
        topic: str,
        message_id: str,
        envelope: Envelope | None,
        *,
        outcome: str = OUTCOME_PROCESSED,
        attempts: int = 1,
        error: str | None = None,
    ) -> bool:
        """Insert the inbox row; False if this message was already processed.

        A message that was dead-lettered may be claimed again, so that replaying
        a dead letter after a fix takes effect exactly once.
        """
        values = pg_insert(self.inbox).values(
            consumer=self.service,
            message_id=message_id,
            topic=topic,
            message_type=envelope.type if envelope else None,
            outcome=outcome,
            attempts=attempts,
            error=error,
        )
        stmt = values.on_conflict_do_update(
            index_elements=["consumer", "message_id"],
            set_={
                "outcome": values.excluded.outcome,
                "attempts": self.inbox.c.attempts + values.excluded.attempts,
                "error": values.excluded.error,
                "processed_at": datetime.now(UTC),
            },
            where=self.inbox.c.outcome == OUTCOME_DEAD_LETTERED,
        ).returning(self.inbox.c.message_id)
        return (await session.execute(stmt)).first() is not None

    async def _dead_letter(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        body: bytes,
        headers: dict[str, str],
        message_id: str,
        envelope: Envelope | None,
        error: BaseException,
        attempts: int,
    ) -> None:
        reason = _describe(error)
        dlq_headers = dict(headers)
        dlq_headers.update(
            {
                DLQ_ERROR: reason[:4000],
                DLQ_ERROR_TYPE: type(error).__name__,
                DLQ_ATTEMPTS: str(attempts),
                DLQ_CONSUMER: self.service,
                DLQ_ORIGINAL_TOPIC: topic,
                DLQ_ORIGINAL_PARTITION: str(partition),
                DLQ_ORIGINAL_OFFSET: str(offset),
                DLQ_FAILED_AT: datetime.now(UTC).isoformat(),
            }
        )
        async with self.database.transaction() as session:
            if not await self._claim(
                session,
                topic,
                message_id,
                envelope,
                outcome=OUTCOME_DEAD_LETTERED,
                attempts=attempts,
                error=reason[:4000],
            ):
                # Settled before: processed (by another replica, meanwhile) or discarded
                # by an operator. This copy is a duplicate like any other.
                DUPLICATES.labels(self.service, topic).inc()
                log.info("message %s already settled; skipped", message_id)
                return
            log.error(
                "dead-lettering message %s from %s after %d attempt(s): %s",
                message_id,
                topic,
                attempts,
                reason,
            )
            await outbox_mod.write(
                session,
                self.outbox,
                topic=dead_letter_topic(topic),
                key=key.decode(errors="replace") if key else None,
                message_type=envelope.type if envelope else "unknown",
                headers=dlq_headers,
                payload=body,
            )
        DEAD_LETTERED.labels(self.service, topic, type(error).__name__).inc()
        self.signal.notify()


def _describe(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        parts = []
        for e in error.errors(include_url=False):
            where = ".".join(str(p) for p in e["loc"]) or "(body)"
            parts.append(f"{where}: {e['msg']}")
        return f"invalid {error.title}: " + "; ".join(parts)
    return f"{type(error).__name__}: {error}"


class _TransactionalMiddleware(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: ContextRepo, messaging: Messaging) -> None:
        super().__init__(msg, context=context)
        self.messaging = messaging

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        record = msg.raw_message
        headers = {k: v for k, v in (msg.headers or {}).items() if isinstance(v, str)}
        return await self.messaging.handle(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            body=msg.body,
            headers=headers,
            call=lambda: call_next(msg),
            context=self.context,
        )
