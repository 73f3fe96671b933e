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
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from orderly_kit.db import new_metadata
from orderly_kit.messaging_tables import add_messaging_tables

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

#: One payment per order: its method, what may be shown of it, and where its ledger stands.
#: ``status`` and the references are kept in step with ``payment_operations``.
payments = Table(
    "payments",
    metadata,
    Column("payment_id", String(40), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("method", String(32), nullable=False),
    Column("provider", String(40), nullable=False),
    # Display data only (never a token or a card number): enough for support to talk about it.
    Column("brand", String(40), nullable=True),
    Column("last4", String(4), nullable=True),
    Column("exp_month", SmallInteger, nullable=True),
    Column("exp_year", SmallInteger, nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("authorization_reference", String(200), nullable=True),
    Column("capture_reference", String(200), nullable=True),
    Column("failure_reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    CheckConstraint(
        "status IN ('not_paid', 'authorized', 'captured', 'partially_refunded', 'refunded',"
        " 'failed', 'voided')",
        name="status_known",
    ),
    CheckConstraint("last4 ~ '^[0-9]{4}$'", name="last4_is_four_digits"),
)

#: The payment ledger: every provider operation (authorize, capture, void, charge, refund
#: attempt) under its idempotency key, written as requested before the call, then answered.
#: Written ahead on a connection of its own, so no foreign keys to rows of the caller's
#: transaction.
payment_operations = Table(
    "payment_operations",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("kind", String(10), nullable=False),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("payment_id", String(40), nullable=False),
    Column("provider", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(10), nullable=False),
    Column("provider_reference", String(200), nullable=True),
    Column("reason", Text, nullable=True),
    # For a refund attempt: the refund and the attempt's number.
    Column("refund_id", String(100), nullable=True),
    Column("attempt", Integer, nullable=True),
    # For a charge, its id; for a refund attempt, the charge it returns money of (none: the
    # capture).
    Column("charge_id", String(100), nullable=True),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("answered_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(
        "kind IN ('authorize', 'capture', 'void', 'refund', 'charge')", name="kind_known"
    ),
    CheckConstraint(
        "status IN ('requested', 'pending', 'succeeded', 'failed')", name="status_known"
    ),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    CheckConstraint(
        "(kind = 'refund') = (refund_id IS NOT NULL AND attempt IS NOT NULL)",
        name="refund_attempt_named",
    ),
    CheckConstraint("attempt IS NULL OR attempt >= 1", name="attempt_positive"),
    CheckConstraint(
        "CASE kind WHEN 'charge' THEN charge_id IS NOT NULL WHEN 'refund' THEN true"
        " ELSE charge_id IS NULL END",
        name="charge_named",
    ),
    Index("ix_payment_operations_order_id", "order_id"),
    Index("ix_payment_operations_payment_id", "payment_id"),
    Index(
        "ix_payment_operations_refund_attempt",
        "refund_id",
        "attempt",
        unique=True,
        postgresql_where=text("refund_id IS NOT NULL"),
    ),
    # One provider charge per charge id.
    Index(
        "ix_payment_operations_charge",
        "charge_id",
        unique=True,
        postgresql_where=text("kind = 'charge'"),
    ),
    # Webhooks name the operation by the provider's reference.
    Index("ix_payment_operations_provider_reference", "provider", "provider_reference"),
    # The reconciliation report: succeeded captures, charges and refunds by day.
    Index(
        "ix_payment_operations_answered",
        "answered_at",
        postgresql_where=text("status = 'succeeded'"),
    ),
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
    # Who asked for it by hand (a finance user); none when the saga asked.
    Column("requested_by", String(100), nullable=True),
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

#: One row per ChargePayment (its charge id): refused before the provider (failed, with
#: our reason), or sent as the ledger entry ``charge:<charge id>`` and kept in step with it
#: (pending until the provider's answer is known).
charges = Table(
    "charges",
    metadata,
    Column("charge_id", String(100), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    # None for a charge refused because the order has no payment.
    Column("payment_id", String(40), ForeignKey("payments.payment_id"), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("provider_reference", String(200), nullable=True),
    Column("reason", Text, nullable=False),
    Column("failure_reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status_known"),
    Index("ix_charges_order_id", "order_id"),
    Index("ix_charges_payment_id", "payment_id"),
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

#: Provider webhooks applied, one row per delivery id, written in the same transaction as
#: their effect: a delivery received again (a replay, or the provider's retry) is answered
#: "duplicate" and changes nothing. ``outcome`` says whether it answered its operation.
provider_webhook_deliveries = Table(
    "provider_webhook_deliveries",
    metadata,
    Column("provider", String(40), primary_key=True),
    Column("delivery_id", String(200), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("outcome", String(20), nullable=False),
    CheckConstraint("outcome IN ('confirmed', 'already_answered')", name="outcome_known"),
)

# -- the simulated provider's side ---------------------------------------------------
# Not the service's tables: the simulated provider keeps its own record here, written
# in its own transactions, as a real provider would in its own systems. Only
# adapters/providers.py touches it.

#: Every operation a simulated provider executed, one per idempotency key.
sim_provider_operations = Table(
    "sim_provider_operations",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("provider", String(40), nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("kind", String(10), nullable=False),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("failure_reason", Text, nullable=True),
    Column("reference", String(200), nullable=False, unique=True),
    # For a capture or void, the authorization; for a refund, the capture or charge.
    Column("payment_reference", String(200), nullable=True),
    # How the payment method behaves later (refunds that fail, answers held back...).
    Column("behaviour", String(20), nullable=False, server_default="normal"),
    # Set when the answer is sent later by webhook: until then a repeated call hears "pending".
    Column("answer_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "kind IN ('authorize', 'capture', 'void', 'refund', 'charge')", name="kind_known"
    ),
    CheckConstraint("outcome IN ('succeeded', 'failed')", name="outcome_known"),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    Index("ix_sim_provider_operations_order_id", "order_id"),
    Index("ix_sim_provider_operations_payment_reference", "payment_reference"),
)

#: Webhooks a simulated provider owes: the answers it gave as "pending". ``due_at`` is when
#: it is next sent: first when the answer is due, then after each failed attempt's backoff.
sim_provider_webhooks = Table(
    "sim_provider_webhooks",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("provider", String(40), nullable=False),
    Column("delivery_id", String(64), nullable=False, unique=True),
    Column("payload", JSONB, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: Given up after too many failed attempts (orderly_kit.webhook_sender).
    Column("given_up_at", DateTime(timezone=True), nullable=True),
    Index(
        "ix_sim_provider_webhooks_due",
        "due_at",
        postgresql_where=text("sent_at IS NULL AND given_up_at IS NULL"),
    ),
    # What orderly_webhook_deliveries_given_up counts.
    Index(
        "ix_sim_provider_webhooks_given_up",
        "given_up_at",
        postgresql_where=text("sent_at IS NULL AND given_up_at IS NOT NULL"),
    ),
)
