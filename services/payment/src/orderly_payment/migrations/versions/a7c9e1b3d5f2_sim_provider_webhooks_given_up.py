"""the simulated providers' webhooks are given up after the kit's maximum attempts

Revision ID: a7c9e1b3d5f2
Revises: 224169f685f0
Create Date: 2026-12-08 10:00:00

orderly_kit.webhook_sender drives the table now: a webhook that keeps failing is
marked ``given_up_at`` (and no longer scanned) instead of being retried for ever, and
the given-up rows get a partial index for the orderly_webhook_deliveries_given_up gauge.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7c9e1b3d5f2"
down_revision: str | None = "224169f685f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _due_index(where: str) -> None:
    op.drop_index("ix_sim_provider_webhooks_due", table_name="sim_provider_webhooks")
    op.create_index(
        "ix_sim_provider_webhooks_due",
        "sim_provider_webhooks",
        ["due_at"],
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.add_column(
        "sim_provider_webhooks",
        sa.Column("given_up_at", sa.DateTime(timezone=True), nullable=True),
    )
    _due_index("sent_at IS NULL AND given_up_at IS NULL")
    op.create_index(
        "ix_sim_provider_webhooks_given_up",
        "sim_provider_webhooks",
        ["given_up_at"],
        postgresql_where=sa.text("sent_at IS NULL AND given_up_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_sim_provider_webhooks_given_up", table_name="sim_provider_webhooks")
    _due_index("sent_at IS NULL")
    op.drop_column("sim_provider_webhooks", "given_up_at")
