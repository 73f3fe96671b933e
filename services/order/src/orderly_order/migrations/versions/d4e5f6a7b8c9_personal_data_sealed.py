"""Customers' personal data sealed under a data key per customer (customer_keys)

New orders keep name, email and shipping address only sealed (AES-GCM under the
customer's data key, orderly_kit.personal_data) and the email's keyed hash; the
plaintext columns become nullable and stay for orders placed before, until
``python -m orderly_order customers seal-legacy`` moves them (a later revision drops
them once every database has done so).

Revision ID: d4e5f6a7b8c9
Revises: 60e9c3a0954d
Create Date: 2026-12-07 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d4e5f6a7b8c9"
down_revision: str | None = "60e9c3a0954d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_keys",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_keys")),
    )
    for name in ("customer_email_sealed", "customer_name_sealed", "shipping_address_sealed"):
        op.add_column("orders", sa.Column(name, sa.LargeBinary(), nullable=True))
    op.add_column("orders", sa.Column("customer_email_lookup", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_orders_customer_email_lookup", "orders", ["customer_email_lookup"], unique=False
    )
    op.alter_column("orders", "customer_email", existing_type=sa.String(length=320), nullable=True)
    op.alter_column("orders", "customer_name", existing_type=sa.String(length=200), nullable=True)
    op.alter_column(
        "orders",
        "shipping_address",
        existing_type=postgresql.JSONB(astext_type=sa.Text()),
        nullable=True,
    )


def downgrade() -> None:
    raise NotImplementedError(
        "sealed personal data cannot be moved back without the keys; restore a backup instead"
    )
