"""reservation deadlines, release tombstones and refused shipments

Revision ID: e85d20463cd3
Revises: b214b9613ae7
Create Date: 2026-11-25 10:35:24

Written by hand. reservations.expires_at is backfilled for existing rows as
created_at + 1800 s (the default reservation_ttl_seconds), so that stock held
before this release expires too; its server default serves only writers that
do not set it (the previous release's pods during a rolling deploy). The
partial index is the expiry job's scan. reservation_requests may record the
'released' tombstone and reservations the 'expired' status (CHECKs replaced).
Downgrade maps them back to 'released' and drops the tombstones.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e85d20463cd3"
down_revision: str | None = "b214b9613ae7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_DEADLINE = sa.text("now() + interval '1800 seconds'")


def _replace_check(name: str, table: str, condition: str) -> None:
    op.drop_constraint(op.f(name), table, type_="check")
    op.create_check_constraint(op.f(name), table, condition)


def upgrade() -> None:
    op.add_column(
        "reservations",
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.execute("UPDATE reservations SET expires_at = created_at + interval '1800 seconds'")
    op.alter_column(
        "reservations", "expires_at", nullable=False, server_default=DEFAULT_DEADLINE
    )
    op.create_index(
        "ix_reservations_expiry",
        "reservations",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'reserved'"),
    )
    _replace_check(
        "ck_reservations_status_known",
        "reservations",
        "status IN ('reserved', 'released', 'shipped', 'expired')",
    )
    _replace_check(
        "ck_reservation_requests_outcome_known",
        "reservation_requests",
        "outcome IN ('reserved', 'failed', 'released')",
    )
    op.create_table(
        "shipment_failures",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("carrier", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_shipment_failures")),
    )


def downgrade() -> None:
    op.drop_table("shipment_failures")
    op.execute("DELETE FROM reservation_requests WHERE outcome = 'released'")
    _replace_check(
        "ck_reservation_requests_outcome_known",
        "reservation_requests",
        "outcome IN ('reserved', 'failed')",
    )
    op.execute("UPDATE reservations SET status = 'released' WHERE status = 'expired'")
    _replace_check(
        "ck_reservations_status_known",
        "reservations",
        "status IN ('reserved', 'released', 'shipped')",
    )
    op.drop_index(
        "ix_reservations_expiry",
        table_name="reservations",
        postgresql_where=sa.text("status = 'reserved'"),
    )
    op.drop_column("reservations", "expires_at")
