"""pickings: orders the warehouse is picking before handing them to the carrier

Revision ID: a0ae3f3fbc7d
Revises: 2e13e376559c
Create Date: 2026-11-25 11:00:53

Written by hand. One row per order picked with pick_delay_seconds > 0; the
partial index is the picking job's scan of pickings in progress. Downgrade
drops the table: pickings still in progress are lost, so their orders stay
reserved until the saga re-sends ShipOrder (which then ships at once) or the
reservation expires.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a0ae3f3fbc7d"
down_revision: str | None = "2e13e376559c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pickings",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("ship_to", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("ship_order_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "status IN ('picking', 'shipped', 'failed', 'cancelled')",
            name=op.f("ck_pickings_status_known"),
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_pickings")),
    )
    op.create_index(
        "ix_pickings_due",
        "pickings",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("status = 'picking'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_pickings_due", table_name="pickings", postgresql_where=sa.text("status = 'picking'")
    )
    op.drop_table("pickings")
