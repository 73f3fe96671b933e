"""The payment service's tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import UUID

from orderly_kit.db import new_metadata
from orderly_kit.messaging_tables import add_messaging_tables

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

#: One capture attempt per order, captured or failed; never retried under a new key.
payments = Table(
    "payments",
    metadata,
    Column("payment_id", String(40), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("method", String(32), nullable=False),
    # Never the token itself: its last four characters are enough for support.
    Column("token_last4", String(4), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("provider_reference", String(200), nullable=False),
    Column("failure_reason", Text, nullable=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    CheckConstraint("status IN ('captured', 'failed')", name="status_known"),
)

#: One provider refund attempt per refund id (refusals before the provider are not rows).
refunds = Table(
    "refunds",
    metadata,
    Column("refund_id", String(100), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("payment_id", String(40), ForeignKey("payments.payment_id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("provider_reference", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("failure_reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    CheckConstraint("status IN ('succeeded', 'failed')", name="status_known"),
    Index("ix_refunds_payment_id", "payment_id"),
    Index("ix_refunds_order_id", "order_id"),
)
