"""The return's saga: its parcel, what was received, its refund, its deadline, its history

A return now runs on after approval: a return parcel booked by inventory (its label
expires), the goods received and inspected, the refund; every waiting state has a
deadline that the deadline job claims (domain.returns); every status it moves to is
kept in return_status_history.

Revision ID: a7b8c9d0e1f2
Revises: f0a1b2c3d4e5
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a7b8c9d0e1f2"
down_revision: str | None = "f0a1b2c3d4e5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    sa.Column("warehouse", sa.String(length=64), nullable=True),
    sa.Column("carrier", sa.String(length=64), nullable=True),
    sa.Column("tracking_number", sa.String(length=64), nullable=True),
    sa.Column("label_expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("received", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("refund_id", sa.String(length=100), nullable=True),
    sa.Column("refund_amount", sa.BigInteger(), nullable=True),
    sa.Column("restocking_fee", sa.BigInteger(), nullable=True),
    sa.Column("currency", sa.String(length=3), nullable=True),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closing_reason", sa.Text(), nullable=True),
    sa.Column("attention_step", sa.String(length=20), nullable=True),
    sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resends", sa.Integer(), server_default=sa.text("0"), nullable=False),
)


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("returns", column)
    op.create_index(
        "ix_returns_deadline_at",
        "returns",
        ["deadline_at"],
        unique=False,
        postgresql_where=sa.text("deadline_at IS NOT NULL"),
    )
    op.create_table(
        "return_status_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("return_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["returns.return_id"],
            name=op.f("fk_return_status_history_return_id_returns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_status_history")),
    )
    op.create_index(
        "ix_return_status_history_return_id",
        "return_status_history",
        ["return_id", "id"],
        unique=False,
    )
    # Returns requested before this release start their history where they stand.
    op.execute(
        "INSERT INTO return_status_history (return_id, status, reason, at)"
        " SELECT return_id, 'requested', NULL, requested_at FROM returns"
    )
    op.execute(
        "INSERT INTO return_status_history (return_id, status, reason, at)"
        " SELECT return_id, status, rejection_reason, decided_at FROM returns"
        " WHERE decided_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_return_status_history_return_id", table_name="return_status_history")
    op.drop_table("return_status_history")
    op.drop_index(
        "ix_returns_deadline_at",
        table_name="returns",
        postgresql_where=sa.text("deadline_at IS NOT NULL"),
    )
    for column in reversed(COLUMNS):
        op.drop_column("returns", column.name)
