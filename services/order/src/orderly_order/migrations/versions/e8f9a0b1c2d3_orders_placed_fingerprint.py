"""Orders keep the fingerprint of the OrderPlaced that placed them

The same order id with another body is refused (a dead letter on checkout.orders.v1, a 409
at POST /orders) instead of being dropped without a word. Orders placed before keep no
fingerprint, and take any repeat as the same order, as they always did.

Revision ID: e8f9a0b1c2d3
Revises: d4e5f6a7b8c9
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e8f9a0b1c2d3"
down_revision: str | None = "d4e5f6a7b8c9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("placed_fingerprint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "placed_fingerprint")
