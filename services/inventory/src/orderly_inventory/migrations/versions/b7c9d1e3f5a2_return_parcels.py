"""return parcels: the carrier's collection of a return, once per return id

Revision ID: b7c9d1e3f5a2
Revises: a1b2c3d4e5f6
Create Date: 2026-12-08 12:00:00

Written by hand. BookReturnParcel books the carrier to bring a return back to the
warehouse that shipped it; the row keeps the parcel (or the refusal) under the return
id, so a re-sent command is answered again without a second booking, and the carrier's
tracking webhooks find the parcel by its tracking number. Downgrade drops the table: a
BookReturnParcel re-sent after a downgrade would book again (the simulated carrier gives
the same tracking number).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b7c9d1e3f5a2"
down_revision: str | None = "a1b2c3d4e5f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "return_parcels",
        sa.Column("return_id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("warehouse", sa.String(length=64), nullable=True),
        sa.Column("carrier", sa.String(length=100), nullable=True),
        sa.Column("tracking_number", sa.String(length=64), nullable=True),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_detail", sa.String(length=2000), nullable=True),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('booked', 'in_transit', 'out_for_delivery', 'delivered', 'failed',"
            " 'received', 'refused')",
            name=op.f("ck_return_parcels_status_known"),
        ),
        sa.CheckConstraint(
            "(status = 'refused') = (reason IS NOT NULL)"
            " AND (status = 'refused' OR (warehouse IS NOT NULL AND carrier IS NOT NULL"
            " AND tracking_number IS NOT NULL))",
            name=op.f("ck_return_parcels_booked_or_refused"),
        ),
        sa.ForeignKeyConstraint(
            ["warehouse"],
            ["warehouses.code"],
            name=op.f("fk_return_parcels_warehouse_warehouses"),
        ),
        sa.PrimaryKeyConstraint("return_id", name=op.f("pk_return_parcels")),
        sa.UniqueConstraint("tracking_number", name=op.f("uq_return_parcels_tracking_number")),
    )


def downgrade() -> None:
    op.drop_table("return_parcels")
