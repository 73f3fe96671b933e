"""the simulated carrier's updates are given up like every webhook sender's (given_up_at)

Revision ID: f4b6c8d0e2a1
Revises: 261267c6366c
Create Date: 2026-12-08 10:00:00

orderly_kit.webhook_sender drives the table now: ``abandoned_at`` is renamed
``given_up_at``, the column every sender's table has, and the given-up rows get a
partial index for the orderly_webhook_deliveries_given_up gauge.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f4b6c8d0e2a1"
down_revision: str | None = "261267c6366c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _due_index(given_up: str) -> None:
    op.drop_index("ix_sim_carrier_updates_due", table_name="sim_carrier_updates")
    op.create_index(
        "ix_sim_carrier_updates_due",
        "sim_carrier_updates",
        ["next_attempt_at"],
        postgresql_where=sa.text(f"sent_at IS NULL AND {given_up} IS NULL"),
    )


def upgrade() -> None:
    op.alter_column("sim_carrier_updates", "abandoned_at", new_column_name="given_up_at")
    _due_index("given_up_at")
    op.create_index(
        "ix_sim_carrier_updates_given_up",
        "sim_carrier_updates",
        ["given_up_at"],
        postgresql_where=sa.text("sent_at IS NULL AND given_up_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_sim_carrier_updates_given_up", table_name="sim_carrier_updates")
    op.alter_column("sim_carrier_updates", "given_up_at", new_column_name="abandoned_at")
    _due_index("abandoned_at")
