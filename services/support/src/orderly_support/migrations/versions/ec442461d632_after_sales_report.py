"""the after-sales report's read model: returns and claims; the units of each order's SKUs
and when it was confirmed

``returns`` and ``claims`` keep what the report counts of order.returns.v1 and of
OrderClaimed (ids, codes, SKUs and units, the warehouse, money, times; no words, no
person). ``orders`` gains ``units`` (``units[i]`` of ``skus[i]``) and ``confirmed_at``, the
units sold a SKU's return rate divides by; orders confirmed before keep them empty and
null, and count as sold in no period.

Revision ID: ec442461d632
Revises: fae1bd8603ac
Create Date: 2026-12-10 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "ec442461d632"
down_revision: str | None = "fae1bd8603ac"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "orders",
        sa.Column(
            "units",
            postgresql.ARRAY(sa.Integer()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.add_column("orders", sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_orders_confirmed_at", "orders", ["confirmed_at"], unique=False)
    op.create_table(
        "returns",
        sa.Column("return_id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("exchange", sa.Boolean(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warehouse", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "skus",
            postgresql.ARRAY(sa.String(length=64)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column(
            "units", postgresql.ARRAY(sa.Integer()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("replacement_shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replacement_unavailable_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded", sa.BigInteger(), nullable=True),
        sa.Column("refunded_currency", sa.String(length=3), nullable=True),
        sa.Column("restocking_fee", sa.BigInteger(), nullable=True),
        sa.Column("restocking_fee_currency", sa.String(length=3), nullable=True),
        sa.Column("charged", sa.BigInteger(), nullable=True),
        sa.Column("charged_currency", sa.String(length=3), nullable=True),
        sa.PrimaryKeyConstraint("return_id", name=op.f("pk_returns")),
    )
    op.create_index("ix_returns_requested_at", "returns", ["requested_at"], unique=False)
    op.create_index("ix_returns_received_at", "returns", ["received_at"], unique=False)
    op.create_index("ix_returns_completed_at", "returns", ["completed_at"], unique=False)
    op.create_table(
        "claims",
        sa.Column("claim_id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("resolution", sa.String(length=12), nullable=False),
        sa.Column("carrier", sa.Text(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("pk_claims")),
    )
    op.create_index("ix_claims_claimed_at", "claims", ["claimed_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_claims_claimed_at", table_name="claims")
    op.drop_table("claims")
    op.drop_index("ix_returns_completed_at", table_name="returns")
    op.drop_index("ix_returns_received_at", table_name="returns")
    op.drop_index("ix_returns_requested_at", table_name="returns")
    op.drop_table("returns")
    op.drop_index("ix_orders_confirmed_at", table_name="orders")
    op.drop_column("orders", "confirmed_at")
    op.drop_column("orders", "units")
