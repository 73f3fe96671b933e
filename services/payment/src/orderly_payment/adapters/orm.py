"""The payment service's tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    text,
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

#: One row per RefundPayment (its refund id) that reached the provider: pending while
#: retries are scheduled, then succeeded or failed. Refusals before the provider are not rows.
refunds = Table(
    "refunds",
    metadata,
    Column("refund_id", String(100), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("payment_id", String(40), ForeignKey("payments.payment_id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    # Of the succeeded attempt, or of the last answered one; none before an answer.
    Column("provider_reference", String(200), nullable=True),
    Column("reason", Text, nullable=False),
    Column("failure_reason", Text, nullable=True),
    # Provider calls made so far (an unanswered call counts).
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status_known"),
    CheckConstraint(
        "(status = 'pending') = (next_attempt_at IS NOT NULL)", name="pending_has_next_attempt"
    ),
    Index("ix_refunds_payment_id", "payment_id"),
    Index("ix_refunds_order_id", "order_id"),
    # The retry job's scan: pending refunds by due time.
    Index(
        "ix_refunds_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
    ),
)

#: Every provider operation of a refund, one per idempotency key (``refund:<id>:<n>``).
#: The ledger of what was asked of the provider and what it answered.
refund_attempts = Table(
    "refund_attempts",
    metadata,
    Column("refund_id", String(100), ForeignKey("refunds.refund_id"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    # requested: sent, answer unknown (retried under the same key); then succeeded or failed.
    Column("status", String(20), nullable=False),
    Column("provider_reference", String(200), nullable=True),
    Column("reason", Text, nullable=True),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("answered_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("attempt >= 1", name="attempt_positive"),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    CheckConstraint("status IN ('requested', 'succeeded', 'failed')", name="status_known"),
    Index("ix_refund_attempts_order_id", "order_id"),
)

#: Orders whose payment was voided: no capture may happen for them. One row per
#: RefundPayment that found nothing captured.
payment_voids = Table(
    "payment_voids",
    metadata,
    Column("refund_id", String(100), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_payment_voids_order_id", "order_id"),
)

# -- the simulated provider's side ---------------------------------------------------
# Not the service's tables: the simulated provider keeps its own record here, written
# in its own transactions, as a real provider would in its own systems. Only
# adapters/providers.py touches it.

#: Every operation the simulated provider executed, one per idempotency key.
sim_provider_operations = Table(
    "sim_provider_operations",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("kind", String(10), nullable=False),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("failure_reason", Text, nullable=True),
    Column("reference", String(200), nullable=False, unique=True),
    # For a refund: the reference of the capture it returns money from.
    Column("payment_reference", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("kind IN ('capture', 'refund')", name="kind_known"),
    CheckConstraint("outcome IN ('succeeded', 'failed')", name="outcome_known"),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    Index("ix_sim_provider_operations_order_id", "order_id"),
    Index("ix_sim_provider_operations_payment_reference", "payment_reference"),
)
