"""Returns of delivered orders, their lines and their numbers

A customer (or support for them) requests a return of delivered lines; the rules or
support approve or reject it (domain.returns). Return numbers (RMA-0000001) come from
their own sequence.

Revision ID: f0a1b2c3d4e5
Revises: e8f9a0b1c2d3
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f0a1b2c3d4e5"
down_revision: str | None = "e8f9a0b1c2d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Autogenerate does not see sequences: return numbers come from this one.
    op.execute(sa.schema.CreateSequence(sa.Sequence("return_number_seq", start=1)))
    op.create_table(
        "returns",
        sa.Column("return_id", sa.UUID(), nullable=False),
        sa.Column("return_number", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("order_number", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("reason_text", sa.Text(), nullable=True),
        sa.Column("resolution", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.order_id"], name=op.f("fk_returns_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("return_id", name=op.f("pk_returns")),
        sa.UniqueConstraint("return_number", name=op.f("uq_returns_return_number")),
    )
    op.create_index("ix_returns_order_id", "returns", ["order_id"], unique=False)
    op.create_index("ix_returns_status", "returns", ["status", "requested_at"], unique=False)
    op.create_table(
        "return_lines",
        sa.Column("return_id", sa.UUID(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_return_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.return_id"], name=op.f("fk_return_lines_return_id_returns")
        ),
        sa.PrimaryKeyConstraint("return_id", "line_no", name="pk_return_lines"),
    )


def downgrade() -> None:
    op.drop_table("return_lines")
    op.drop_index("ix_returns_status", table_name="returns")
    op.drop_index("ix_returns_order_id", table_name="returns")
    op.drop_table("returns")
    op.execute(sa.schema.DropSequence(sa.Sequence("return_number_seq")))
