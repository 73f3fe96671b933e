"""charges: more taken after the capture (ChargePayment), in the ledger and the simulated providers

A charge is a ledger entry of its own kind (``charge``, its ``charge_id``), and a refund
attempt names the charge it returns money of (none: the capture). ``charges`` holds one
row per ChargePayment. The simulated providers execute charges too, and their per-order
totals count them.

Revision ID: 5d2e8b7f1c90
Revises: a7c9e1b3d5f2
Create Date: 2026-12-09 12:00:00

The downgrade forgets charges: their ledger entries, rows and the providers' record of
them are deleted, and refunds no longer say which charge they drew on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d2e8b7f1c90"
down_revision: str | None = "a7c9e1b3d5f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = "kind IN ('authorize', 'capture', 'void', 'refund', 'charge')"
OLD_KINDS = "kind IN ('authorize', 'capture', 'void', 'refund')"

ORDER_TOTALS_VIEW = """
CREATE OR REPLACE VIEW sim_provider_order_totals AS
SELECT order_id,
       currency,
       count(*) FILTER (WHERE kind = 'capture') AS captures,
       coalesce(sum(amount) FILTER (WHERE kind = 'capture'), 0)::bigint AS captured_amount,
       count(*) FILTER (WHERE kind = 'refund') AS refunds,
       coalesce(sum(amount) FILTER (WHERE kind = 'refund'), 0)::bigint AS refunded_amount{charges}
FROM sim_provider_operations
WHERE outcome = 'succeeded'
GROUP BY order_id, currency
"""
CHARGE_TOTALS = """,
       count(*) FILTER (WHERE kind = 'charge') AS charges,
       coalesce(sum(amount) FILTER (WHERE kind = 'charge'), 0)::bigint AS charged_amount"""


def _kinds(table: str, check: str) -> None:
    op.drop_constraint(op.f(f"ck_{table}_kind_known"), table, type_="check")
    op.create_check_constraint(op.f(f"ck_{table}_kind_known"), table, check)


def upgrade() -> None:
    op.add_column(
        "payment_operations", sa.Column("charge_id", sa.String(length=100), nullable=True)
    )
    _kinds("payment_operations", KINDS)
    op.create_check_constraint(
        op.f("ck_payment_operations_charge_named"),
        "payment_operations",
        "CASE kind WHEN 'charge' THEN charge_id IS NOT NULL WHEN 'refund' THEN true"
        " ELSE charge_id IS NULL END",
    )
    op.create_index(
        "ix_payment_operations_charge",
        "payment_operations",
        ["charge_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'charge'"),
    )
    op.create_table(
        "charges",
        sa.Column("charge_id", sa.String(length=100), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider_reference", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_charges_amount_not_negative")),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name=op.f("ck_charges_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.payment_id"], name=op.f("fk_charges_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("charge_id", name=op.f("pk_charges")),
    )
    op.create_index("ix_charges_order_id", "charges", ["order_id"])
    op.create_index("ix_charges_payment_id", "charges", ["payment_id"])

    _kinds("sim_provider_operations", KINDS)
    op.execute(ORDER_TOTALS_VIEW.format(charges=CHARGE_TOTALS))


def downgrade() -> None:
    # A view's columns cannot be dropped by replacing it.
    op.execute("DROP VIEW sim_provider_order_totals")
    op.execute(ORDER_TOTALS_VIEW.format(charges=""))
    op.execute("DELETE FROM sim_provider_operations WHERE kind = 'charge'")
    _kinds("sim_provider_operations", OLD_KINDS)

    op.drop_index("ix_charges_payment_id", table_name="charges")
    op.drop_index("ix_charges_order_id", table_name="charges")
    op.drop_table("charges")
    op.execute("DELETE FROM payment_operations WHERE kind = 'charge'")
    op.drop_index(
        "ix_payment_operations_charge",
        table_name="payment_operations",
        postgresql_where=sa.text("kind = 'charge'"),
    )
    op.drop_constraint(
        op.f("ck_payment_operations_charge_named"), "payment_operations", type_="check"
    )
    _kinds("payment_operations", OLD_KINDS)
    op.drop_column("payment_operations", "charge_id")
