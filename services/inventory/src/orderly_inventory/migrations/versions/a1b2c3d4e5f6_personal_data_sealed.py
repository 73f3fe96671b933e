"""Ship-to addresses sealed under the customer's data key (customer_keys)

A picking keeps the address its ShipOrder carried sealed (AES-GCM under the customer's
data key, which arrives wrapped with the command and is kept in customer_keys), so
erasing the customer (CustomerErased) leaves nothing here that opens. ``ship_to`` stays,
nullable, for pickings begun from commands sent before addresses were sealed.

Revision ID: a1b2c3d4e5f6
Revises: f4b6c8d0e2a1
Create Date: 2026-12-07 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a1b2c3d4e5f6"
down_revision: str | None = "f4b6c8d0e2a1"
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
    op.add_column("pickings", sa.Column("customer_id", sa.String(length=64), nullable=True))
    op.add_column("pickings", sa.Column("ship_to_sealed", sa.LargeBinary(), nullable=True))
    op.alter_column(
        "pickings",
        "ship_to",
        existing_type=postgresql.JSONB(astext_type=sa.Text()),
        nullable=True,
    )


def downgrade() -> None:
    sealed = op.get_bind().scalar(sa.text("SELECT count(*) FROM pickings WHERE ship_to IS NULL"))
    if sealed:
        raise RuntimeError(
            f"{sealed} picking(s) keep their address sealed only; it cannot be moved back"
            " without the keys: restore a backup instead"
        )
    op.alter_column(
        "pickings",
        "ship_to",
        existing_type=postgresql.JSONB(astext_type=sa.Text()),
        nullable=False,
    )
    op.drop_column("pickings", "ship_to_sealed")
    op.drop_column("pickings", "customer_id")
    op.drop_table("customer_keys")
