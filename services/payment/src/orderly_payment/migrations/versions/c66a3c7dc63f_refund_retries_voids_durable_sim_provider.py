"""refund retries and attempts, payment voids, the simulated provider's own record

Revision ID: c66a3c7dc63f
Revises: 883c28b87eed
Create Date: 2026-11-25 10:37:32
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c66a3c7dc63f"
down_revision: str | None = "883c28b87eed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDER_TOTALS_VIEW = """
CREATE VIEW sim_provider_order_totals AS
SELECT order_id,
       currency,
       count(*) FILTER (WHERE kind = 'capture') AS captures,
       coalesce(sum(amount) FILTER (WHERE kind = 'capture'), 0)::bigint AS captured_amount,
       count(*) FILTER (WHERE kind = 'refund') AS refunds,
       coalesce(sum(amount) FILTER (WHERE kind = 'refund'), 0)::bigint AS refunded_amount
FROM sim_provider_operations
WHERE outcome = 'succeeded'
GROUP BY order_id, currency
"""


def upgrade() -> None:
    # -- refunds: pending while retries are scheduled ------------------------------
    # Existing refunds each made one provider call; new rows always set attempts.
    op.add_column(
        "refunds", sa.Column("attempts", sa.Integer(), server_default="1", nullable=False)
    )
    op.alter_column("refunds", "attempts", server_default="0")
    op.add_column("refunds", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "refunds",
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.execute("UPDATE refunds SET updated_at = created_at")
    op.alter_column("refunds", "provider_reference", existing_type=sa.String(200), nullable=True)
    op.drop_constraint(op.f("ck_refunds_status_known"), "refunds", type_="check")
    op.create_check_constraint(
        op.f("ck_refunds_status_known"), "refunds", "status IN ('pending', 'succeeded', 'failed')"
    )
    op.create_check_constraint(
        op.f("ck_refunds_pending_has_next_attempt"),
        "refunds",
        "(status = 'pending') = (next_attempt_at IS NOT NULL)",
    )
    op.create_index(
        "ix_refunds_due",
        "refunds",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )

    # -- refund attempts: one row per provider operation ---------------------------
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
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("attempt >= 1", name=op.f("ck_refund_attempts_attempt_positive")),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_refund_attempts_amount_not_negative")),
        sa.CheckConstraint(
            "status IN ('requested', 'succeeded', 'failed')",
            name=op.f("ck_refund_attempts_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"],
            ["refunds.refund_id"],
            name=op.f("fk_refund_attempts_refund_id_refunds"),
        ),
        sa.PrimaryKeyConstraint("refund_id", "attempt", name=op.f("pk_refund_attempts")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_refund_attempts_idempotency_key")),
    )
    op.create_index("ix_refund_attempts_order_id", "refund_attempts", ["order_id"], unique=False)
    # Refunds made before this revision were one provider call under ``refund:<id>``.
    op.execute(
        """
        INSERT INTO refund_attempts (refund_id, attempt, order_id, idempotency_key, amount,
                                     currency, status, provider_reference, reason,
                                     requested_at, answered_at)
        SELECT refund_id, 1, order_id, 'refund:' || refund_id, amount, currency, status,
               provider_reference, failure_reason, created_at, created_at
        FROM refunds
        """
    )

    # -- voids: orders whose payment may never be captured -------------------------
    op.create_table(
        "payment_voids",
        sa.Column("refund_id", sa.String(length=100), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("refund_id", name=op.f("pk_payment_voids")),
    )
    op.create_index("ix_payment_voids_order_id", "payment_voids", ["order_id"], unique=False)

    # -- the simulated provider's own record ---------------------------------------
    op.create_table(
        "sim_provider_operations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("payment_reference", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "amount >= 0", name=op.f("ck_sim_provider_operations_amount_not_negative")
        ),
        sa.CheckConstraint(
            "kind IN ('capture', 'refund')", name=op.f("ck_sim_provider_operations_kind_known")
        ),
        sa.CheckConstraint(
            "outcome IN ('succeeded', 'failed')",
            name=op.f("ck_sim_provider_operations_outcome_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sim_provider_operations")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_sim_provider_operations_idempotency_key")
        ),
        sa.UniqueConstraint("reference", name=op.f("uq_sim_provider_operations_reference")),
    )
    op.create_index(
        "ix_sim_provider_operations_order_id",
        "sim_provider_operations",
        ["order_id"],
        unique=False,
    )
    op.create_index(
        "ix_sim_provider_operations_payment_reference",
        "sim_provider_operations",
        ["payment_reference"],
        unique=False,
    )
    op.execute(ORDER_TOTALS_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW sim_provider_order_totals")
    op.drop_index(
        "ix_sim_provider_operations_payment_reference", table_name="sim_provider_operations"
    )
    op.drop_index("ix_sim_provider_operations_order_id", table_name="sim_provider_operations")
    op.drop_table("sim_provider_operations")
    op.drop_index("ix_payment_voids_order_id", table_name="payment_voids")
    op.drop_table("payment_voids")
    op.drop_index("ix_refund_attempts_order_id", table_name="refund_attempts")
    op.drop_table("refund_attempts")
    op.drop_index(
        "ix_refunds_due", table_name="refunds", postgresql_where=sa.text("status = 'pending'")
    )
    op.drop_constraint(op.f("ck_refunds_pending_has_next_attempt"), "refunds", type_="check")
    op.drop_constraint(op.f("ck_refunds_status_known"), "refunds", type_="check")
    # The old schema knows only final refunds with a reference.
    op.execute(
        "UPDATE refunds SET status = 'failed', failure_reason = coalesce(failure_reason,"
        " 'retries abandoned by a schema downgrade') WHERE status = 'pending'"
    )
    op.execute("UPDATE refunds SET provider_reference = '' WHERE provider_reference IS NULL")
    op.create_check_constraint(
        op.f("ck_refunds_status_known"), "refunds", "status IN ('succeeded', 'failed')"
    )
    op.alter_column("refunds", "provider_reference", existing_type=sa.String(200), nullable=False)
    op.drop_column("refunds", "updated_at")
    op.drop_column("refunds", "next_attempt_at")
    op.drop_column("refunds", "attempts")
