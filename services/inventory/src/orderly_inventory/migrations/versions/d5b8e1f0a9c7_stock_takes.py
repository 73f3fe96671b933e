"""stock-takes (cycle counts): stock_takes, their lines and every count

Revision ID: d5b8e1f0a9c7
Revises: c4f1d2e3a5b6
Create Date: 2026-12-02 10:00:00

Written by hand. A stock-take counts a warehouse's shelves: its lines keep the
on hand the system had when it opened; its counts (recounts included, never
overwritten) each keep the on hand the ledger had when they were recorded, so
that approval applies only real variances, as 'adjustment' movements. The
count's ``count_id`` is unique so that a retried request records one count.
Downgrade drops the three tables; approved stock-takes' adjustments stay in the
ledger (their reference is the stock-take id).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d5b8e1f0a9c7"
down_revision: str | None = "c4f1d2e3a5b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stock_takes",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("warehouse", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=200), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=2000), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'approved', 'cancelled')", name=op.f("ck_stock_takes_status_known")
        ),
        sa.CheckConstraint("scope IN ('all', 'listed')", name=op.f("ck_stock_takes_scope_known")),
        sa.CheckConstraint(
            "(status = 'approved') = (approved_by IS NOT NULL AND approved_at IS NOT NULL)",
            name=op.f("ck_stock_takes_approved_with_who_and_when"),
        ),
        sa.CheckConstraint(
            "(status = 'cancelled') = (cancelled_by IS NOT NULL AND cancelled_at IS NOT NULL)",
            name=op.f("ck_stock_takes_cancelled_with_who_and_when"),
        ),
        sa.ForeignKeyConstraint(
            ["warehouse"],
            ["warehouses.code"],
            name=op.f("fk_stock_takes_warehouse_warehouses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_takes")),
    )
    op.create_index("ix_stock_takes_opened", "stock_takes", ["opened_at", "id"])
    op.create_index(
        "ix_stock_takes_open",
        "stock_takes",
        ["warehouse"],
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "stock_take_lines",
        sa.Column("stock_take_id", sa.UUID(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("on_hand_at_open", sa.Integer(), nullable=False),
        sa.Column("adjustment", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "on_hand_at_open >= 0", name=op.f("ck_stock_take_lines_on_hand_at_open_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["stock_take_id"],
            ["stock_takes.id"],
            name=op.f("fk_stock_take_lines_stock_take_id_stock_takes"),
        ),
        sa.PrimaryKeyConstraint("stock_take_id", "sku", name="pk_stock_take_lines"),
    )
    op.create_table(
        "stock_take_counts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("count_id", sa.UUID(), nullable=False),
        sa.Column("stock_take_id", sa.UUID(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("counted_by", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("system_on_hand", sa.Integer(), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_stock_take_counts_quantity_not_negative")),
        sa.CheckConstraint(
            "system_on_hand >= 0", name=op.f("ck_stock_take_counts_system_on_hand_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["stock_take_id", "sku"],
            ["stock_take_lines.stock_take_id", "stock_take_lines.sku"],
            name="fk_stock_take_counts_stock_take_lines",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_take_counts")),
        sa.UniqueConstraint("count_id", name="uq_stock_take_counts_count_id"),
    )
    op.create_index(
        "ix_stock_take_counts_line", "stock_take_counts", ["stock_take_id", "sku", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_stock_take_counts_line", table_name="stock_take_counts")
    op.drop_table("stock_take_counts")
    op.drop_table("stock_take_lines")
    op.drop_index(
        "ix_stock_takes_open", table_name="stock_takes", postgresql_where=sa.text("status = 'open'")
    )
    op.drop_index("ix_stock_takes_opened", table_name="stock_takes")
    op.drop_table("stock_takes")
