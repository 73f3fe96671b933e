"""The notification service's tables."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import UUID

from orderly_kit.db import new_metadata
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.personal_data import add_customer_keys_table

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
#: This service's data key of each customer it writes to (their email is sealed under it).
customer_keys = add_customer_keys_table(metadata)

#: Where to reach each order's customer; only OrderConfirmed carries the address. The
#: email is sealed under the customer's data key; ``email`` holds it in plaintext only for
#: orders confirmed before emails were sealed.
recipients = Table(
    "recipients",
    metadata,
    Column("order_id", UUID(as_uuid=True), primary_key=True),
    Column("email_sealed", LargeBinary, nullable=True),
    Column("email", String(320), nullable=True),
    Column("customer_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # A case without an order is told to its customer at the address of their latest order.
    Index("ix_recipients_customer_id", "customer_id", "created_at"),
)

#: One notification per consumed event (source_message_id), sent or failed.
notifications = Table(
    "notifications",
    metadata,
    Column("notification_id", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=True),
    Column("event_type", String(100), nullable=False),
    Column("template", String(100), nullable=False),
    Column("channel", String(50), nullable=False),
    # customer:<customer id>, or a staff mailbox: never a customer's address.
    Column("recipient", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("failure_reason", Text, nullable=True),
    Column("source_message_id", String(200), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('sent', 'failed')", name="status_known"),
    Index("ix_notifications_order_id_created_at", "order_id", "created_at"),
    Index("ix_notifications_created_at", "created_at"),
)
