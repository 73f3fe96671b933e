"""Claims: support settles an order whose parcel was lost or damaged in transit

A claim reships the goods (a replacement shipment) or refunds the order; the order keeps
the claim and its replacement, and the claims table each claim and where it stands.

Revision ID: b8c9d0e1f2a3
Revises: a7b8c9d0e1f2
Create Date: 2026-12-09 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b8c9d0e1f2a3"
down_revision: str | None = "a7b8c9d0e1f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("claim_id", postgresql.UUID(as_uuid=True), nullable=True))
    op.add_column(
        "orders", sa.Column("replacement_id", postgresql.UUID(as_uuid=True), nullable=True)
    )
    op.execute(sa.schema.CreateSequence(sa.Sequence("claim_number_seq", start=1)))
    op.create_table(
        "claims",
        sa.Column("claim_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("claim_number", sa.String(length=32), nullable=False),
        sa.Column("order_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("resolution", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replacement_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.order_id"], name=op.f("fk_claims_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("pk_claims")),
        sa.UniqueConstraint("claim_number", name=op.f("uq_claims_claim_number")),
    )
    op.create_index("ix_claims_order_id", "claims", ["order_id"])
    op.create_index("ix_claims_status", "claims", ["status", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_claims_status", table_name="claims")
    op.drop_index("ix_claims_order_id", table_name="claims")
    op.drop_table("claims")
    op.execute(sa.schema.DropSequence(sa.Sequence("claim_number_seq")))
    op.drop_column("orders", "replacement_id")
    op.drop_column("orders", "claim_id")
