"""Exchanges: a return's replacement goods, their shipment and the price difference

Revision ID: c9d0e1f2a3b4
Revises: b8c9d0e1f2a3
Create Date: 2026-12-09 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c9d0e1f2a3b4"
down_revision: str | None = "b8c9d0e1f2a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    sa.Column("replacement", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column("replacement_id", postgresql.UUID(as_uuid=True), nullable=True),
    sa.Column("replacement_state", sa.String(length=20), nullable=True),
    sa.Column("replacement_carrier", sa.String(length=64), nullable=True),
    sa.Column("replacement_tracking", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column("charge_id", sa.String(length=100), nullable=True),
    sa.Column("charged", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
)


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("returns", column)
    op.create_index(
        "ix_returns_replacement_id",
        "returns",
        ["replacement_id"],
        postgresql_where=sa.text("replacement_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_returns_replacement_id", table_name="returns")
    for column in reversed(COLUMNS):
        op.drop_column("returns", column.name)
