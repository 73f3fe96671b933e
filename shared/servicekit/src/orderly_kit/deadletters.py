"""One service's dead letters: read them from ``<topic>.dlq``, replay or discard them, count them.

A dead letter is the original message (body, key, headers) plus ``dlq_*`` headers
that say which consumer gave up on it, why, and where it came from. Its inbox row
(outcome ``dead_lettered``) says whether it still waits: a replay publishes the
original message again, with its ``ce_id`` unchanged, to the original topic. The
consumer's inbox then claims the dead-lettered row again and the message takes
effect once; every other consumer of that topic finds its own inbox row and skips
it (which is why a replay must stay within the inbox retention).

Both actions are audited (``dead_letter.replay``, ``dead_letter.discard``, target
``dead_letter:<message id>``). A discard's audit row commits with its inbox change. A
replay changes nothing in the database itself, so its row is written in a transaction
around the send that commits once the broker has the message: a replay the broker
refused leaves no row. Should that commit fail after the send, the message is out
without its row (the log line remains); replaying it again is harmless.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import Table, func, select, update

from orderly_kit.audit import Actor
from orderly_kit.db import Database
from orderly_kit.kafka_security import PLAINTEXT, KafkaSecurity
from orderly_kit.messaging import (
    DEAD_LETTERS_WAITING,
    DLQ_ATTEMPTS,
    DLQ_CONSUMER,
    DLQ_ERROR,
    DLQ_ERROR_TYPE,
    DLQ_FAILED_AT,
    DLQ_HEADER_PREFIX,
    DLQ_ORIGINAL_OFFSET,
    DLQ_ORIGINAL_PARTITION,
    DLQ_ORIGINAL_TOPIC,
    OUTCOME_DEAD_LETTERED,
    OUTCOME_DISCARDED,
    OUTCOME_PROCESSED,
    CardNumberError,
    Messaging,
    fallback_message_id,
)
from orderly_kit.topic_reader import read_to_end
from orderly_schemas.cloudevents import TYPE, Envelope, MissingHeaderError
from orderly_schemas.topics import DEAD_LETTER_SUFFIX, dead_letter_topic

log = logging.getLogger(__name__)

# Where a replayed message came from: "<dlq topic>:<partition>:<offset>".
REPLAYED_FROM: Final = "orderly_replayed_from"


class Status(StrEnum):
    """What became of a dead letter, from the consumer's inbox row."""

    WAITING = "waiting"  # still dead_lettered: replay it (or discard it)
    REPLAYED = "replayed"  # processed since
    DISCARDED = "discarded"  # an operator gave up on it
    PURGED = "purged"  # no inbox row any more: settled long ago and purged by housekeeping


_STATUS_OF_OUTCOME: Final = {
    OUTCOME_DEAD_LETTERED: Status.WAITING,
    OUTCOME_PROCESSED: Status.REPLAYED,
    OUTCOME_DISCARDED: Status.DISCARDED,
}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of a ``.dlq`` topic."""

    dlq_topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    raw_headers: tuple[tuple[str, bytes], ...]
    status: Status = Status.PURGED
    headers: dict[str, str] = field(init=False, compare=False)
    has_envelope: bool = field(init=False, compare=False)
    message_id: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen: derived fields are set once, here.
        decoded = {k: v.decode(errors="replace") for k, v in self.raw_headers}
        object.__setattr__(self, "headers", decoded)
        try:
            envelope: Envelope | None = Envelope.from_headers(self.original_headers)
        except MissingHeaderError:
            envelope = None
        object.__setattr__(self, "has_envelope", envelope is not None)
        # The id the consumer's inbox knows it by, exactly as Messaging.handle made it.
        message_id = (
            envelope.id
            if envelope
            else fallback_message_id(
                self.original_topic, self.original_partition or 0, self.original_offset or 0
            )
        )
        object.__setattr__(self, "message_id", message_id)

    @property
    def position(self) -> str:
        return f"{self.dlq_topic}:{self.partition}:{self.offset}"

    @property
    def consumer(self) -> str | None:
        return self.headers.get(DLQ_CONSUMER)

    @property
    def type(self) -> str | None:
        return self.headers.get(TYPE)

    @property
    def original_topic(self) -> str:
        fallback = self.dlq_topic.removesuffix(DEAD_LETTER_SUFFIX)
        return self.headers.get(DLQ_ORIGINAL_TOPIC) or fallback

    @property
    def original_partition(self) -> int | None:
        return _int(self.headers.get(DLQ_ORIGINAL_PARTITION))

    @property
    def original_offset(self) -> int | None:
        return _int(self.headers.get(DLQ_ORIGINAL_OFFSET))

    @property
    def attempts(self) -> int | None:
        return _int(self.headers.get(DLQ_ATTEMPTS))

    @property
    def error(self) -> str | None:
        return self.headers.get(DLQ_ERROR)

    @property
    def error_type(self) -> str | None:
        return self.headers.get(DLQ_ERROR_TYPE)

    @property
    def failed_at(self) -> datetime | None:
        raw = self.headers.get(DLQ_FAILED_AT)
        try:
            return datetime.fromisoformat(raw) if raw else None
        except ValueError:
            return None

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers the message had before it was dead-lettered (or last replayed)."""
        return [
            (k, v)
            for k, v in self.raw_headers
            if not k.startswith(DLQ_HEADER_PREFIX) and k != REPLAYED_FROM
        ]

    def to_dict(self) -> dict[str, Any]:
        failed_at = self.failed_at
        return {
            "message_id": self.message_id,
            "status": self.status.value,
            "type": self.type,
            "dlq_topic": self.dlq_topic,
            "partition": self.partition,
            "offset": self.offset,
            "original_topic": self.original_topic,
            "original_partition": self.original_partition,
            "original_offset": self.original_offset,
            "key": self.key.decode(errors="replace") if self.key is not None else None,
            "consumer": self.consumer,
            "attempts": self.attempts,
            "error_type": self.error_type,
            "error": self.error,
            "failed_at": failed_at.isoformat() if failed_at else None,
        }


def dead_letter_topics(topics: Iterable[str]) -> list[str]:
    """The ``.dlq`` topics of ``topics`` (a name that already is a ``.dlq`` topic stays)."""
    names = (t if t.endswith(DEAD_LETTER_SUFFIX) else dead_letter_topic(t) for t in topics)
    return sorted(set(names))


async def _partitions(
    bootstrap: str, topics: Sequence[str], security: KafkaSecurity
) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.client_options())
    await admin.start()
    try:
        described = await admin.describe_topics()
    finally:
        await admin.close()
    wanted = set(topics)
    return sorted(
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t["topic"] in wanted and t["error_code"] == 0
        for p in t["partitions"]
    )


async def read(
    bootstrap: str,
    topics: Iterable[str],
    *,
    consumer: str,
    security: KafkaSecurity = PLAINTEXT,
) -> list[DeadLetter]:
    """Every dead letter of ``consumer`` on the ``.dlq`` topics of ``topics``, up to their
    end when the read began (``topic_reader``); it commits nothing and waits for nothing."""
    tps = await _partitions(bootstrap, dead_letter_topics(topics), security)
    letters = []
    found = await read_to_end(
        bootstrap, tps, client_id=f"{consumer}-dead-letters", security=security
    )
    for r in found:
        headers = tuple((k, bytes(v)) for k, v in (r.headers or ()))
        if dict(headers).get(DLQ_CONSUMER, b"").decode(errors="replace") == consumer:
            letters.append(
                DeadLetter(r.topic, r.partition, r.offset, r.key, r.value or b"", headers)
            )
    return letters


async def with_status(
    database: Database, inbox: Table, consumer: str, letters: Sequence[DeadLetter]
) -> list[DeadLetter]:
    """The letters with their status from ``consumer``'s inbox rows."""
    ids = sorted({letter.message_id for letter in letters})
    outcomes: dict[str, str] = {}
    async with database.transaction() as session:
        for start in range(0, len(ids), 1000):
            rows = await session.execute(
                select(inbox.c.message_id, inbox.c.outcome)
                .where(inbox.c.consumer == consumer)
                .where(inbox.c.message_id.in_(ids[start : start + 1000]))
            )
            outcomes.update({r.message_id: r.outcome for r in rows})
    return [
        replace(
            letter,
            status=_STATUS_OF_OUTCOME.get(outcomes.get(letter.message_id, ""), Status.PURGED),
        )
        for letter in letters
    ]


def latest_by_id(letters: Iterable[DeadLetter]) -> dict[str, DeadLetter]:
    """The last dead letter of each message id (a replay that failed again makes another)."""
    latest: dict[str, DeadLetter] = {}
    for letter in letters:
        known = latest.get(letter.message_id)
        if known is None or (letter.failed_at or datetime.min.replace(tzinfo=UTC)) >= (
            known.failed_at or datetime.min.replace(tzinfo=UTC)
        ):
            latest[letter.message_id] = letter
    return latest


def refusal(
    letter: DeadLetter, *, max_age: timedelta, now: datetime, force: bool = False
) -> str | None:
    """Why ``letter`` must not be replayed, or None; ``force`` overrides the age limit only."""
    if not letter.has_envelope:
        return (
            f"{letter.message_id} has no valid CloudEvents headers ({letter.error}); a replay"
            " would be dead-lettered again. Fix the producer and discard this letter"
        )
    if letter.error_type == CardNumberError.__name__:
        return (
            f"{letter.message_id} carried card numbers, removed from this letter ({letter.error});"
            " a replay would run without them. Have the sender send it again with the"
            " provider's token, and discard this letter"
        )
    failed_at = letter.failed_at
    if not force and failed_at is not None and now - failed_at > max_age:
        return (
            f"{letter.message_id} was dead-lettered at {failed_at.isoformat()}, longer ago than"
            f" the inbox retention ({max_age}): other consumers of {letter.original_topic} may"
            " have forgotten that they processed it and would take it again. Use --force if"
            " none did"
        )
    return None


@dataclass(frozen=True, slots=True)
class Replayed:
    """One replay, for the audit trail."""

    letter: DeadLetter
    operator: str
    at: datetime
    partition: int
    offset: int

    def audit_line(self) -> str:
        letter = self.letter
        key = letter.key.decode(errors="replace") if letter.key is not None else None
        return (
            f"replayed {letter.message_id} ({letter.type}) from {letter.position} to"
            f" {letter.original_topic}:{self.partition}:{self.offset} key={key}"
            f" by {self.operator} at {self.at.isoformat()}"
        )


async def replay(
    bootstrap: str,
    letters: Sequence[DeadLetter],
    *,
    messaging: Messaging,
    operator: str,
    client_id: str,
    security: KafkaSecurity = PLAINTEXT,
) -> AsyncIterator[Replayed]:
    """Publish each letter's original message again, with its original key and id; each
    replay audited in ``messaging``'s audit log.

    This writes to the topics the service consumes, which a service's own Kafka user may
    not (only their producers may): in a deployment with ACLs it runs as the
    ``dead-letter-replay`` user, whose name and password the operator gives for the command.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        # Duplicates are harmless (the inbox skips them); Tansu lacks idempotence anyway.
        enable_idempotence=False,
        **security.client_options(),
    )
    await producer.start()
    try:
        for letter in letters:
            headers = [*letter.original_headers, (REPLAYED_FROM, letter.position.encode())]
            async with messaging.unit_of_work() as uow:
                sent = await producer.send_and_wait(
                    letter.original_topic, letter.value, key=letter.key, headers=headers
                )
                done = Replayed(letter, operator, uow.now(), sent.partition, sent.offset)
                await uow.audit(
                    actor=Actor.operator(operator),
                    action="dead_letter.replay",
                    target=f"dead_letter:{letter.message_id}",
                    before={"status": letter.status.value, "dead_letter": letter.position},
                    after={
                        "replayed_to": f"{letter.original_topic}:{sent.partition}:{sent.offset}"
                    },
                )
            log.info(
                "%s",
                done.audit_line(),
                extra={"audit": "dead_letter_replayed", "operator": operator},
            )
            yield done
    finally:
        await producer.stop()


async def discard(
    messaging: Messaging, message_ids: Sequence[str], *, operator: str, reason: str
) -> list[str]:
    """Mark waiting dead letters of ``messaging``'s service as given up, each audited in the
    same transaction; returns the ids that were waiting."""
    inbox = messaging.inbox
    async with messaging.unit_of_work() as uow:
        note = f"\ndiscarded by {operator} at {uow.now().isoformat()}: {reason}"
        rows = await uow.session.scalars(
            update(inbox)
            .where(inbox.c.consumer == messaging.service)
            .where(inbox.c.message_id.in_(message_ids))
            .where(inbox.c.outcome == OUTCOME_DEAD_LETTERED)
            .values(outcome=OUTCOME_DISCARDED, error=func.coalesce(inbox.c.error, "") + note)
            .returning(inbox.c.message_id)
        )
        discarded = list(rows)
        for message_id in discarded:
            await uow.audit(
                actor=Actor.operator(operator),
                action="dead_letter.discard",
                target=f"dead_letter:{message_id}",
                before={"status": Status.WAITING.value},
                after={"status": Status.DISCARDED.value, "reason": reason},
            )
    for message_id in discarded:
        log.info(
            "discarded dead letter %s by %s: %s",
            message_id,
            operator,
            reason,
            extra={"audit": "dead_letter_discarded", "operator": operator},
        )
    return discarded


async def count_waiting(database: Database, inbox: Table, consumer: str) -> dict[str, int]:
    """Dead letters of ``consumer`` not yet replayed, by original topic (a partial index)."""
    async with database.transaction() as session:
        rows = await session.execute(
            select(inbox.c.topic, func.count())
            .where(inbox.c.outcome == OUTCOME_DEAD_LETTERED)
            .where(inbox.c.consumer == consumer)
            .group_by(inbox.c.topic)
        )
        return {topic: int(n) for topic, n in rows.tuples()}


class WaitingGauge:
    """Keeps ``orderly_dead_letters_waiting`` of one service up to date."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._topics: set[str] = set()

    async def refresh(
        self, database: Database, inbox: Table, topics: Iterable[str] = ()
    ) -> dict[str, int]:
        """Count again; ``topics`` (those consumed) report 0 rather than nothing."""
        counts = await count_waiting(database, inbox, self.service)
        self._topics |= set(topics) | counts.keys()
        for topic in self._topics:
            DEAD_LETTERS_WAITING.labels(self.service, topic).set(counts.get(topic, 0))
        return counts


def pretty_body(value: bytes) -> str:
    """The body as indented JSON when it is JSON, else as text."""
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except (ValueError, UnicodeDecodeError):
        return value.decode(errors="replace")
