"""Provider webhook deliveries: each delivery id applied once

Revision ID: 194a23a2691f
Revises: e1f2a3b4c5d6
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "194a23a2691f"
down_revision: str | None = "e1f2a3b4c5d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_webhook_deliveries",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('confirmed', 'already_answered')",
            name=op.f("ck_provider_webhook_deliveries_outcome_known"),
        ),
        sa.PrimaryKeyConstraint(
            "provider", "delivery_id", name=op.f("pk_provider_webhook_deliveries")
        ),
    )


def downgrade() -> None:
    op.drop_table("provider_webhook_deliveries")
