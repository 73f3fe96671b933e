"""Customers' emails sealed under a data key per customer (customer_keys)

A recipient's email is kept sealed (AES-GCM under this service's data key for the
customer, orderly_kit.personal_data); ``email`` becomes nullable and keeps the plaintext
only of orders confirmed before. A notification names a customer recipient as
``customer:<id>``, never by address: the notifications sent before are renamed so.

Revision ID: b2c3d4e5f6a7
Revises: 7bcfad18da5f
Create Date: 2026-12-07 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b2c3d4e5f6a7"
down_revision: str | None = "7bcfad18da5f"
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
    op.add_column("recipients", sa.Column("email_sealed", sa.LargeBinary(), nullable=True))
    op.alter_column("recipients", "email", existing_type=sa.String(length=320), nullable=True)
    op.execute(
        "UPDATE notifications AS n SET recipient = 'customer:' || r.customer_id"
        " FROM recipients AS r WHERE n.order_id = r.order_id AND n.recipient = r.email"
    )


def downgrade() -> None:
    sealed = op.get_bind().scalar(sa.text("SELECT count(*) FROM recipients WHERE email IS NULL"))
    if sealed:
        raise RuntimeError(
            f"{sealed} recipient(s) keep their email sealed only; it cannot be moved back"
            " without the keys: restore a backup instead"
        )
    op.alter_column("recipients", "email", existing_type=sa.String(length=320), nullable=False)
    op.drop_column("recipients", "email_sealed")
    op.drop_table("customer_keys")
