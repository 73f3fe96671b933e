"""Payment ledger, methods' providers and display data, simulated providers' webhooks

Every provider operation (authorize, capture, void, refund attempt) becomes an entry
of ``payment_operations``; the refund attempts and each payment's capture move there.
Payments name their provider and keep display data (brand, last four digits, expiry)
instead of a token's last characters.

Revision ID: e1f2a3b4c5d6
Revises: 390249412164
Create Date: 2026-12-01 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e1f2a3b4c5d6"
down_revision: str | None = "390249412164"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_PAYMENT_STATUSES = (
    "status IN ('not_paid', 'authorized', 'captured', 'partially_refunded', 'refunded',"
    " 'failed', 'voided')"
)


def upgrade() -> None:
    # -- the ledger --------------------------------------------------------------------
    op.create_table(
        "payment_operations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("provider_reference", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("refund_id", sa.String(length=100), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column(
            "requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(kind = 'refund') = (refund_id IS NOT NULL AND attempt IS NOT NULL)",
            name=op.f("ck_payment_operations_refund_attempt_named"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_payment_operations_amount_not_negative")),
        sa.CheckConstraint(
            "attempt IS NULL OR attempt >= 1", name=op.f("ck_payment_operations_attempt_positive")
        ),
        sa.CheckConstraint(
            "kind IN ('authorize', 'capture', 'void', 'refund')",
            name=op.f("ck_payment_operations_kind_known"),
        ),
        sa.CheckConstraint(
            "status IN ('requested', 'pending', 'succeeded', 'failed')",
            name=op.f("ck_payment_operations_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_operations")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payment_operations_idempotency_key")),
    )
    op.create_index("ix_payment_operations_order_id", "payment_operations", ["order_id"])
    op.create_index("ix_payment_operations_payment_id", "payment_operations", ["payment_id"])
    op.create_index(
        "ix_payment_operations_refund_attempt",
        "payment_operations",
        ["refund_id", "attempt"],
        unique=True,
        postgresql_where=sa.text("refund_id IS NOT NULL"),
    )
    op.create_index(
        "ix_payment_operations_provider_reference",
        "payment_operations",
        ["provider", "provider_reference"],
    )
    op.create_index(
        "ix_payment_operations_answered",
        "payment_operations",
        ["answered_at"],
        postgresql_where=sa.text("status = 'succeeded'"),
    )
    # Each payment so far was one capture, made by the one simulated provider there was.
    op.execute(
        """
        INSERT INTO payment_operations (idempotency_key, kind, order_id, payment_id, provider,
            amount, currency, status, provider_reference, reason, requested_at, answered_at)
        SELECT idempotency_key, 'capture', order_id, payment_id, 'sim-card', amount, currency,
               CASE status WHEN 'captured' THEN 'succeeded' ELSE 'failed' END,
               provider_reference, failure_reason, created_at, created_at
        FROM payments
        """
    )
    op.execute(
        """
        INSERT INTO payment_operations (idempotency_key, kind, order_id, payment_id, provider,
            amount, currency, status, provider_reference, reason, refund_id, attempt,
            requested_at, answered_at)
        SELECT a.idempotency_key, 'refund', a.order_id, r.payment_id, 'sim-card', a.amount,
               a.currency, a.status, a.provider_reference, a.reason, a.refund_id, a.attempt,
               a.requested_at, a.answered_at
        FROM refund_attempts a JOIN refunds r USING (refund_id)
        """
    )
    op.drop_index("ix_refund_attempts_order_id", table_name="refund_attempts")
    op.drop_table("refund_attempts")

    # -- payments: provider, display data, references ----------------------------------
    op.add_column(
        "payments",
        sa.Column("provider", sa.String(length=40), server_default="sim-card", nullable=False),
    )
    op.alter_column("payments", "provider", server_default=None)
    op.add_column("payments", sa.Column("brand", sa.String(length=40), nullable=True))
    op.add_column("payments", sa.Column("last4", sa.String(length=4), nullable=True))
    op.add_column("payments", sa.Column("exp_month", sa.SmallInteger(), nullable=True))
    op.add_column("payments", sa.Column("exp_year", sa.SmallInteger(), nullable=True))
    op.add_column(
        "payments", sa.Column("authorization_reference", sa.String(length=200), nullable=True)
    )
    op.add_column("payments", sa.Column("capture_reference", sa.String(length=200), nullable=True))
    op.execute("UPDATE payments SET capture_reference = provider_reference WHERE status = 'captured'")
    op.drop_constraint(op.f("ck_payments_status_known"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_status_known"), "payments", NEW_PAYMENT_STATUSES)
    # What was refunded shows in the status now.
    op.execute(
        """
        UPDATE payments p SET status = CASE WHEN t.refunded >= p.amount THEN 'refunded'
                                            ELSE 'partially_refunded' END
        FROM (SELECT payment_id, sum(amount) AS refunded FROM refunds
              WHERE status = 'succeeded' GROUP BY payment_id) t
        WHERE t.payment_id = p.payment_id AND p.status = 'captured' AND t.refunded > 0
        """
    )
    op.create_check_constraint(
        op.f("ck_payments_last4_is_four_digits"), "payments", "last4 ~ '^[0-9]{4}$'"
    )
    op.drop_constraint(op.f("uq_payments_idempotency_key"), "payments", type_="unique")
    op.drop_column("payments", "idempotency_key")
    op.drop_column("payments", "provider_reference")
    op.drop_column("payments", "token_last4")

    op.add_column("refunds", sa.Column("requested_by", sa.String(length=100), nullable=True))

    # -- the simulated providers --------------------------------------------------------
    op.add_column(
        "sim_provider_operations",
        sa.Column("provider", sa.String(length=40), server_default="sim-card", nullable=False),
    )
    op.alter_column("sim_provider_operations", "provider", server_default=None)
    op.add_column(
        "sim_provider_operations",
        sa.Column("behaviour", sa.String(length=20), server_default="normal", nullable=False),
    )
    op.add_column(
        "sim_provider_operations",
        sa.Column("answer_at", sa.DateTime(timezone=True), nullable=True),
    )
    # The old provider told refund behaviour by the capture reference's prefix.
    op.execute(
        "UPDATE sim_provider_operations SET behaviour = CASE"
        " WHEN reference LIKE 'sim\\_chrf\\_%' THEN 'refund_fails'"
        " WHEN reference LIKE 'sim\\_chfl\\_%' THEN 'refund_flaky' ELSE 'normal' END"
        " WHERE kind = 'capture'"
    )
    op.drop_constraint(
        op.f("ck_sim_provider_operations_kind_known"), "sim_provider_operations", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_sim_provider_operations_kind_known"),
        "sim_provider_operations",
        "kind IN ('authorize', 'capture', 'void', 'refund')",
    )
    op.create_table(
        "sim_provider_webhooks",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sim_provider_webhooks")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_sim_provider_webhooks_delivery_id")),
    )
    op.create_index(
        "ix_sim_provider_webhooks_due",
        "sim_provider_webhooks",
        ["due_at"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_sim_provider_webhooks_due",
        table_name="sim_provider_webhooks",
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.drop_table("sim_provider_webhooks")
    # The old provider knew captures and refunds only.
    op.execute("DELETE FROM sim_provider_operations WHERE kind IN ('authorize', 'void')")
    op.drop_constraint(
        op.f("ck_sim_provider_operations_kind_known"), "sim_provider_operations", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_sim_provider_operations_kind_known"),
        "sim_provider_operations",
        "kind IN ('capture', 'refund')",
    )
    op.drop_column("sim_provider_operations", "answer_at")
    op.drop_column("sim_provider_operations", "behaviour")
    op.drop_column("sim_provider_operations", "provider")

    op.drop_column("refunds", "requested_by")

    op.add_column("payments", sa.Column("token_last4", sa.String(length=4), nullable=True))
    op.add_column("payments", sa.Column("provider_reference", sa.String(length=200), nullable=True))
    op.add_column("payments", sa.Column("idempotency_key", sa.String(length=200), nullable=True))
    op.execute(
        "UPDATE payments SET provider_reference = coalesce(capture_reference,"
        " authorization_reference, ''), token_last4 = last4,"
        " idempotency_key = 'capture:' || order_id::text,"
        " status = CASE WHEN status IN ('captured', 'partially_refunded', 'refunded')"
        " THEN 'captured' ELSE 'failed' END"
    )
    op.alter_column("payments", "provider_reference", nullable=False)
    op.alter_column("payments", "idempotency_key", nullable=False)
    op.create_unique_constraint(op.f("uq_payments_idempotency_key"), "payments", ["idempotency_key"])
    op.drop_constraint(op.f("ck_payments_last4_is_four_digits"), "payments", type_="check")
    op.drop_constraint(op.f("ck_payments_status_known"), "payments", type_="check")
    op.create_check_constraint(
        op.f("ck_payments_status_known"), "payments", "status IN ('captured', 'failed')"
    )
    for column in (
        "capture_reference",
        "authorization_reference",
        "exp_year",
        "exp_month",
        "last4",
        "brand",
        "provider",
    ):
        op.drop_column("payments", column)

    op.create_table(
        "refund_attempts",
        sa.Column("refund_id", sa.String(length=100), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider_reference", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_refund_attempts_amount_not_negative")),
        sa.CheckConstraint("attempt >= 1", name=op.f("ck_refund_attempts_attempt_positive")),
        sa.CheckConstraint(
            "status IN ('requested', 'succeeded', 'failed')",
            name=op.f("ck_refund_attempts_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.refund_id"], name=op.f("fk_refund_attempts_refund_id_refunds")
        ),
        sa.PrimaryKeyConstraint("refund_id", "attempt", name=op.f("pk_refund_attempts")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_refund_attempts_idempotency_key")),
    )
    op.create_index("ix_refund_attempts_order_id", "refund_attempts", ["order_id"])
    op.execute(
        """
        INSERT INTO refund_attempts (refund_id, attempt, order_id, idempotency_key, amount,
            currency, status, provider_reference, reason, requested_at, answered_at)
        SELECT o.refund_id, o.attempt, o.order_id, o.idempotency_key, o.amount, o.currency,
               CASE o.status WHEN 'pending' THEN 'requested' ELSE o.status END,
               o.provider_reference, o.reason, o.requested_at, o.answered_at
        FROM payment_operations o JOIN refunds r USING (refund_id)
        WHERE o.kind = 'refund'
        """
    )
    op.drop_table("payment_operations")
