"""The kit's tables every service has in its own database: outbox, inbox and audit log."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from orderly_kit.audit import add_audit_table


def add_messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Add ``outbox``, ``inbox`` and ``audit_log`` to a service's metadata; returns (outbox,
    inbox). The unit of work finds the audit log by the outbox's metadata (``audit.table_in``)."""
    outbox = Table(
        "outbox",
        metadata,
        # The database orders rows; a relay publishes in this order.
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("topic", String(200), nullable=False),
        Column("message_key", String(200), nullable=True),
        Column("message_type", String(100), nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True), nullable=True),
        # Where the relay put the row: the saga compares it with a consumer group's
        # committed offset to tell a queued command from an unanswered one.
        Column("kafka_partition", Integer, nullable=True),
        Column("kafka_offset", BigInteger, nullable=True),
        Index(
            "ix_outbox_unsent",
            "id",
            postgresql_where=text("sent_at IS NULL"),
        ),
        # Lets a relay see whether another relay holds an earlier row of the same key.
        Index(
            "ix_outbox_unsent_key",
            "message_key",
            "id",
            postgresql_where=text("sent_at IS NULL"),
        ),
        Index("ix_outbox_sent_at", "sent_at", postgresql_where=text("sent_at IS NOT NULL")),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(200), nullable=False),
        Column("message_id", String(200), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("message_type", String(100), nullable=True),
        # processed | dead_lettered
        Column("outcome", String(20), nullable=False, server_default="processed"),
        Column("attempts", Integer, nullable=False, server_default="1"),
        Column("error", Text, nullable=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "message_id", name="pk_inbox"),
        Index("ix_inbox_processed_at", "processed_at"),
        # Dead letters waiting for a replay are few: the gauge counts them from this index.
        Index(
            "ix_inbox_dead_lettered",
            "topic",
            postgresql_where=text("outcome = 'dead_lettered'"),
        ),
    )
    add_audit_table(metadata)
    return outbox, inbox
