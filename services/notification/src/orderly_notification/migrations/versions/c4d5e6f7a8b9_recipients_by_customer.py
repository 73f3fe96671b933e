"""Recipients found by their customer: a case without an order is told to its customer

Revision ID: c4d5e6f7a8b9
Revises: b2c3d4e5f6a7
Create Date: 2026-12-09 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c4d5e6f7a8b9"
down_revision: str | None = "b2c3d4e5f6a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_recipients_customer_id", "recipients", ["customer_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_recipients_customer_id", table_name="recipients")
