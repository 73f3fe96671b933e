"""outbox rows remember where the relay put them (partition, offset)

Revision ID: e67bd4653c72
Revises: 3a295be31076
Create Date: 2026-12-06 17:40:00

The order saga compares a command's offset with its consumer group's committed
offset, so that a deadline never re-sends a command still waiting in a queue.
The columns come from the shared orderly_kit tables: every service adds them.
"""

from collections.abc import Sequence

from orderly_kit.migrations import add_outbox_positions, drop_outbox_positions

revision: str = "e67bd4653c72"
down_revision: str | None = "3a295be31076"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_positions()


def downgrade() -> None:
    drop_outbox_positions()
