"""stock adjustments: manual corrections of on-hand stock, one row per client-chosen id

Revision ID: d5a7e9b1c3f4
Revises: 768c0bef8e61
Create Date: 2026-12-01 10:00:00

Written by hand. POST /stock/{sku}/{warehouse}/adjustments is idempotent by an
adjustment id the client chooses (or its Idempotency-Key header): the row keeps
the first answer (the ledger movement and the on hand after it), so a retried
request returns it instead of adjusting twice. Downgrade drops the table: a
request retried after a downgrade would adjust again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d5a7e9b1c3f4"
down_revision: str | None = "768c0bef8e61"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stock_adjustments",
        sa.Column("adjustment_id", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("warehouse", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("movement_id", sa.BigInteger(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity <> 0", name=op.f("ck_stock_adjustments_quantity_not_zero")),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["stock_movements.id"],
            name=op.f("fk_stock_adjustments_movement_id_stock_movements"),
        ),
        sa.PrimaryKeyConstraint("adjustment_id", name=op.f("pk_stock_adjustments")),
    )


def downgrade() -> None:
    op.drop_table("stock_adjustments")
