"""outbox rows remember where the relay put them (partition, offset)

Revision ID: 60e9c3a0954d
Revises: b3c4d5e6f7a8
Create Date: 2026-12-06 17:40:00

The order saga compares a command's offset with its consumer group's committed
offset, so that a deadline never re-sends a command still waiting in a queue.
The columns come from the shared orderly_kit tables: every service adds them.
"""

from collections.abc import Sequence

from alembic import op

from orderly_kit.migrations import add_outbox_positions, drop_outbox_positions

revision: str = "60e9c3a0954d"
down_revision: str | None = "b3c4d5e6f7a8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_positions()
    # The order service looks up an order's commands by key (adapters/command_queue.py).
    op.create_index("ix_outbox_message_key", "outbox", ["message_key"])


def downgrade() -> None:
    op.drop_index("ix_outbox_message_key", table_name="outbox")
    drop_outbox_positions()
