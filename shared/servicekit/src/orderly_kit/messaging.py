"""Effectively-once consumption and publication.

A consumed message, its effects, its inbox row and the messages it causes are
committed in ONE transaction; the Kafka offsets are committed only afterwards
(FastStream acks a poll after ``handle_batch`` returns). The messages of one poll
from one partition share that transaction: one inbox claim for all, the handlers
in order, one outbox insert. A redelivered message finds its inbox row and changes
nothing. Transient errors are retried with
exponential backoff; a poison message, or one that keeps failing, is written to
``<topic>.dlq`` through the outbox, in the same transaction as an inbox row that
records it as dead-lettered, so dead letters are neither lost nor duplicated.

A privileged action a unit of work records (``uow.audit``) is appended to the audit log
as the transaction's last step, under the log's lock (``orderly_kit.audit``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import propagate
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit import audit as audit_mod
from orderly_kit import outbox as outbox_mod
from orderly_kit.audit import Actor, AuditEntry
from orderly_kit.card_data import (
    card_number_fields,
    describe,
    looks_like_card_number,
    redact_card_numbers,
    without_card_numbers,
)
from orderly_kit.clock import Clock, utc_now
from orderly_kit.context import current_message_id, current_order_id, current_request_id
from orderly_kit.db import Database, driver_connection
from orderly_kit.personal_data import PersonalDataError, Vault
from orderly_schemas.base import Message
from orderly_schemas.catalogue import (
    MisplacedMessageError,
    UnknownMessageTypeError,
    message_class_on,
)
from orderly_schemas.cloudevents import TRACEPARENT, TRACESTATE, Envelope, MissingHeaderError
from orderly_schemas.topics import dead_letter_topic

log = logging.getLogger(__name__)

#: A repository a use case works through (its port is a Protocol in the service's adapters).
_Repository = TypeVar("_Repository")


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
BATCH_FALLBACKS = Counter(
    "orderly_batch_fallbacks_total",
    "Batches whose shared transaction failed, so their messages were handled one by one",
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
    MisplacedMessageError,
    json.JSONDecodeError,
    UnicodeDecodeError,
    # An erased customer's data cannot be kept; a key the settings lack needs an operator
    # (fix the settings, then replay the dead letter).
    PersonalDataError,
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
    """One transaction: the session for state changes, the outbox for messages, the audit
    log for privileged actions.

    A message published is written to the outbox at once; with ``pending`` (the units of
    work of one consumed batch share it) it is kept there instead, and the kit writes
    them all in one statement before the transaction commits. An action audited is kept
    in ``audit_pending`` for the kit to append as the transaction's last step; without
    that list (a unit of work built by hand on a session) it is appended at once, which
    is as safe but holds the audit log's lock for the rest of the transaction.
    """

    def __init__(
        self,
        session: AsyncSession,
        *,
        outbox: Table,
        source: str,
        cause: Envelope | None = None,
        pending: list[dict[str, Any]] | None = None,
        clock: Clock = utc_now,
        vault: Vault | None = None,
        audit_pending: list[AuditEntry] | None = None,
    ) -> None:
        self.session = session
        self.now = clock
        """The service's clock: what time it is, for every decision this transaction makes."""
        self._vault = vault
        self._outbox = outbox
        self._source = source
        self._cause = cause
        self._pending = pending
        self._audit_pending = audit_pending
        self.published: list[Message] = []
        self.audited: list[AuditEntry] = []

    @property
    def cause(self) -> Envelope | None:
        """The envelope of the message being handled, or None outside a consumer."""
        return self._cause

    @property
    def vault(self) -> Vault:
        """The service's personal-data vault (``orderly_kit.personal_data``)."""
        if self._vault is None:
            raise RuntimeError("this service keeps no personal data: it was built without a vault")
        return self._vault

    def repository(self, build: Callable[[UnitOfWork], _Repository]) -> _Repository:
        """The repository ``build`` makes over this transaction.

        Use cases ask for their repository here rather than building it on ``session``,
        so that a unit test's unit of work can hand out an in-memory one instead.
        """
        return build(self)

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
        row = outbox_mod.row(
            topic=message.topic,
            key=key,
            message_type=message.message_type(),
            headers=envelope.to_headers(),
            payload=message.model_dump_json().encode(),
        )
        if self._pending is None:
            await outbox_mod.write_many(self.session, self._outbox, [row])
        else:
            self._pending.append(row)
        self.published.append(message)
        return envelope

    async def audit(
        self,
        *,
        actor: Actor,
        action: str,
        target: str,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Record a privileged action in the audit log, committed with this transaction.

        ``action`` reads <noun>.<verb> (``order.cancel``), ``target`` <type>:<id>
        (``order:<uuid>``); ``before`` and ``after`` are what changed, as JSON objects.
        The time is this transaction's clock, the request id the request's being served.
        """
        recorded = audit_mod.entry(
            at=self.now(),
            actor=actor,
            action=action,
            target=target,
            request_id=current_request_id.get(),
            before=before,
            after=after,
        )
        if self._audit_pending is None:
            await audit_mod.append(
                self.session, audit_mod.table_in(self._outbox.metadata), [recorded]
            )
        else:
            self._audit_pending.append(recorded)
        self.audited.append(recorded)
        return recorded


#: A use case called for one consumed message: the decoded event and its unit of work.
EventHandler = Callable[[Any, UnitOfWork], Awaitable[Any]]
#: The routes of one topic, by CloudEvents type.
Routes = Mapping[str, "Route"]


@dataclass(frozen=True, slots=True)
class Route:
    """Where messages of one type go: the model that decodes them and their handler."""

    model: type[Message]
    handler: EventHandler


@dataclass(slots=True)
class _Received:
    """A consumed record, its envelope read (or why it cannot be), before any handling."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    body: bytes
    headers: dict[str, str]
    envelope: Envelope | None
    message_id: str
    error: BaseException | None = None


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
    #: What time it is, for every use case (a test's ManualClock moves it on).
    clock: Clock = utc_now
    #: The personal-data vault of a service that keeps customers' personal data.
    vault: Vault | None = None

    @property
    def source(self) -> str:
        return f"/orderly/{self.service}"

    @functools.cached_property
    def audit_log(self) -> Table:
        """This service's audit log (in its metadata beside the outbox); looked up once, not
        on every consumed batch."""
        return audit_mod.table_in(self.outbox.metadata)

    @functools.cached_property
    def _claim_statement(self) -> str:
        """The inbox claim (``_claim_many``): every row of a batch in one statement.

        SQL for the driver on purpose: SQLAlchemy compiles a PostgreSQL ``INSERT … ON
        CONFLICT`` construct on every execution (it has no cache key), and a statement
        through the session costs several times the driver's CPU. The rows come as arrays.
        """
        inbox = self.inbox.name
        return (
            f"INSERT INTO {inbox}"
            " (consumer, message_id, topic, message_type, outcome, attempts, error)"
            " SELECT %(consumer)s::varchar, m.id, m.topic, m.type, %(outcome)s::varchar,"
            " %(attempts)s::integer, %(error)s::text"
            " FROM unnest(%(ids)s::varchar[], %(topics)s::varchar[], %(types)s::varchar[])"
            " AS m(id, topic, type)"
            " ON CONFLICT (consumer, message_id) DO UPDATE SET outcome = excluded.outcome,"
            f" attempts = {inbox}.attempts + excluded.attempts,"
            " error = excluded.error, processed_at = now()"
            f" WHERE {inbox}.outcome = '{OUTCOME_DEAD_LETTERED}'"
            " RETURNING message_id"
        )

    @asynccontextmanager
    async def unit_of_work(self, cause: Envelope | None = None) -> AsyncIterator[UnitOfWork]:
        """A transaction for work not driven by a message (HTTP, schedules)."""
        audited: list[AuditEntry] = []
        async with self.database.transaction() as session:
            uow = UnitOfWork(
                session,
                outbox=self.outbox,
                source=self.source,
                cause=cause,
                clock=self.clock,
                vault=self.vault,
                audit_pending=audited,
            )
            yield uow
            await audit_mod.append(session, self.audit_log, audited)
        if uow.published:
            self.signal.notify()

    def backoff(self, attempt: int) -> float:
        delay = min(self.backoff_ms * 2 ** (attempt - 1), self.backoff_max_ms) / 1000
        return float(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not crypto

    # -- consuming ------------------------------------------------------------------
    def _receive(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        body: bytes,
        headers: dict[str, str],
    ) -> _Received:
        """Read a record's envelope; a missing envelope or a card number is its error."""
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
        return _Received(
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            body=body,
            headers=headers,
            envelope=envelope,
            message_id=envelope.id if envelope else fallback_message_id(topic, partition, offset),
            error=error,
        )

    async def handle_batch(
        self,
        records: Sequence[Any],
        headers: Sequence[dict[str, str]],
        routes_of: Mapping[str, Routes],
        *,
        one_at_a_time: frozenset[str] = frozenset(),
    ) -> None:
        """Handle the records of one poll (of any of the service's topics): each
        partition's in one transaction, the partitions concurrently, except those of the
        topics in ``one_at_a_time``, which take turns.

        Per partition, in order: records of a type of their topic that no route takes are
        skipped (no effect, no inbox row); unreadable ones, and those of a type the
        contract does not define or places on another topic, are dead-lettered alone; the
        rest share ONE transaction (one multi-row inbox claim, the handlers, one multi-row
        outbox insert). If any handler fails, that transaction rolls back and the
        partition's records are handled one by one, each with its own retries and dead
        letter, so one bad message costs only itself. Raises only if a record could be
        neither handled nor dead-lettered; the caller then rewinds every partition of
        the poll.
        """
        by_partition: dict[tuple[str, int], list[_Received]] = {}
        for record, record_headers in zip(records, headers, strict=True):
            received = self._receive(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                body=record.value or b"",
                headers=record_headers,
            )
            by_partition.setdefault((record.topic, record.partition), []).append(received)
        in_turn = [b for (topic, _), b in by_partition.items() if topic in one_at_a_time]

        async def take_turns() -> None:
            for batch in in_turn:
                await self._handle_partition(batch, routes_of.get(batch[0].topic, {}))

        lanes = [
            self._handle_partition(batch, routes_of.get(topic, {}))
            for (topic, _), batch in by_partition.items()
            if topic not in one_at_a_time
        ]
        if in_turn:
            lanes.append(take_turns())
        if len(lanes) == 1:
            await lanes[0]
            return
        # Every lane finishes before an error is raised: none is left running.
        outcomes = await asyncio.gather(*lanes, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _handle_partition(self, batch: list[_Received], routes: Routes) -> None:
        work: list[tuple[_Received, Route, Message]] = []
        for received in batch:
            if received.error is None and received.envelope is not None:
                route = routes.get(received.envelope.type)
                try:
                    if route is None:
                        # A type of another topic, or one the contract does not define, is
                        # a producer's mistake: dead-lettered, never skipped (a consumer of
                        # that topic, or of a newer contract, would have acted on it).
                        message_class_on(received.topic, received.envelope.type)
                        continue  # a type of this topic that this service does not handle
                    event = route.model.model_validate_json(received.body)
                    work.append((received, route, event))
                    continue
                except POISON_ERRORS as exc:
                    received.error = exc
            await self._settle(received, routes)
        if not work:
            return
        try:
            await self._handle_together(work)
        except Exception as exc:
            BATCH_FALLBACKS.labels(self.service, batch[0].topic).inc()
            log.warning(
                "a batch of %d messages from %s[%d] failed together (%s); handling them one by one",
                len(work),
                batch[0].topic,
                batch[0].partition,
                describe_error(exc),
            )
            for received, _route, _event in work:
                await self._settle(received, routes)

    async def _handle_together(self, work: list[tuple[_Received, Route, Message]]) -> None:
        """One transaction: claim every message, run the handlers in order, write the outbox."""
        pending: list[dict[str, Any]] = []
        audited: list[AuditEntry] = []
        async with self.database.transaction() as session:
            claimed = await self._claim_many(session, [received for received, _, _ in work])
            for received, route, event in work:
                if received.message_id not in claimed:
                    DUPLICATES.labels(self.service, received.topic).inc()
                    log.info("message %s already processed; skipped", received.message_id)
                    continue
                claimed.discard(received.message_id)  # a second copy in this batch is a duplicate
                uow = UnitOfWork(
                    session,
                    outbox=self.outbox,
                    source=self.source,
                    cause=received.envelope,
                    pending=pending,
                    clock=self.clock,
                    vault=self.vault,
                    audit_pending=audited,
                )
                with _handling(received):
                    await route.handler(event, uow)
            await outbox_mod.write_many(session, self.outbox, pending)
            await audit_mod.append(session, self.audit_log, audited)
        if pending:
            self.signal.notify()

    async def _settle(self, received: _Received, routes: Routes) -> None:
        """One message in transactions of its own: retried when it fails, else dead-lettered."""
        with _handling(received):
            error = received.error
            attempt = 0
            while error is None:
                attempt += 1
                try:
                    await self._attempt(received, routes)
                    return
                except POISON_ERRORS as exc:
                    error = exc
                except Exception as exc:
                    if attempt >= self.max_attempts:
                        error = exc
                        break
                    RETRIES.labels(self.service, received.topic).inc()
                    delay = self.backoff(attempt)
                    log.warning(
                        "attempt %d of %d failed (%s); retrying in %.3fs",
                        attempt,
                        self.max_attempts,
                        describe_error(exc),
                        delay,
                    )
                    await asyncio.sleep(delay)
            await self._dead_letter(received, error=error, attempts=max(attempt, 1))

    async def _attempt(self, received: _Received, routes: Routes) -> None:
        route = routes.get(received.envelope.type) if received.envelope else None
        if route is not None:
            event = route.model.model_validate_json(received.body)
            await self._handle_together([(received, route, event)])

    async def _claim_many(
        self,
        session: AsyncSession,
        batch: list[_Received],
        *,
        outcome: str = OUTCOME_PROCESSED,
        attempts: int = 1,
        error: str | None = None,
    ) -> set[str]:
        """Insert the inbox rows in one statement; the ids not processed before.

        A message that was dead-lettered may be claimed again, so that replaying a dead
        letter after a fix takes effect exactly once. A message id twice in ``batch``
        is claimed once.
        """
        rows = {
            received.message_id: (
                received.topic,
                received.envelope.type if received.envelope else None,
            )
            for received in batch
        }
        connection = await driver_connection(session)
        cursor = await connection.execute(
            self._claim_statement,
            {
                "consumer": self.service,
                "outcome": outcome,
                "attempts": attempts,
                "error": error,
                "ids": list(rows),
                "topics": [topic for topic, _ in rows.values()],
                "types": [kind for _, kind in rows.values()],
            },
        )
        return {row[0] for row in await cursor.fetchall()}

    async def _dead_letter(
        self, received: _Received, *, error: BaseException, attempts: int
    ) -> None:
        topic, key = received.topic, received.key
        reason = describe_error(error)
        dlq_headers = dict(received.headers)
        dlq_headers.update(
            {
                DLQ_ERROR: reason[:4000],
                DLQ_ERROR_TYPE: type(error).__name__,
                DLQ_ATTEMPTS: str(attempts),
                DLQ_CONSUMER: self.service,
                DLQ_ORIGINAL_TOPIC: topic,
                DLQ_ORIGINAL_PARTITION: str(received.partition),
                DLQ_ORIGINAL_OFFSET: str(received.offset),
                DLQ_FAILED_AT: datetime.now(UTC).isoformat(),
            }
        )
        async with self.database.transaction() as session:
            if not await self._claim_many(
                session,
                [received],
                outcome=OUTCOME_DEAD_LETTERED,
                attempts=attempts,
                error=reason[:4000],
            ):
                # Settled before: processed (by another replica, meanwhile) or discarded
                # by an operator. This copy is a duplicate like any other.
                DUPLICATES.labels(self.service, topic).inc()
                log.info("message %s already settled; skipped", received.message_id)
                return
            log.error(
                "dead-lettering message %s from %s after %d attempt(s): %s",
                received.message_id,
                topic,
                attempts,
                reason,
            )
            await outbox_mod.write(
                session,
                self.outbox,
                topic=dead_letter_topic(topic),
                key=key.decode(errors="replace") if key else None,
                message_type=received.envelope.type if received.envelope else "unknown",
                headers=dlq_headers,
                payload=received.body,
            )
        DEAD_LETTERED.labels(self.service, topic, type(error).__name__).inc()
        self.signal.notify()


@contextmanager
def _handling(received: _Received) -> Iterator[None]:
    """While one message is handled: its order and id in the logs, its trace as the parent
    of what it publishes."""
    envelope = received.envelope
    order_token = current_order_id.set(
        (envelope.correlation_id or envelope.subject) if envelope else None
    )
    id_token = current_message_id.set(received.message_id)
    trace_token = otel_context.attach(propagate.extract(received.headers))
    try:
        yield
    finally:
        otel_context.detach(trace_token)
        current_message_id.reset(id_token)
        current_order_id.reset(order_token)


def describe_error(error: BaseException) -> str:
    """Why a message failed, for a dead letter's header and the logs: the field and rule of
    an invalid message; of a database error only its kind and PostgreSQL's primary message
    (which names the constraint or type), never the statement's parameters or the DETAIL
    line, which quote the row's values (a customer's name, a payment token)."""
    if isinstance(error, ValidationError):
        parts = []
        for e in error.errors(include_url=False):
            where = ".".join(str(p) for p in e["loc"]) or "(body)"
            parts.append(f"{where}: {e['msg']}")
        return f"invalid {error.title}: " + "; ".join(parts)
    if isinstance(error, DBAPIError):
        original = error.orig
        primary = getattr(getattr(original, "diag", None), "message_primary", None)
        return f"{type(error).__name__} ({type(original).__name__}): {primary or 'database error'}"
    return f"{type(error).__name__}: {error}"
