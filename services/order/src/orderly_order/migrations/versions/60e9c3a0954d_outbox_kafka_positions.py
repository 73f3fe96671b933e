"""outbox rows looked up by key in the order service

Revision ID: 60e9c3a0954d
Revises: b3c4d5e6f7a8
Create Date: 2026-12-06 17:40:00

The outbox's kafka_partition / kafka_offset columns, added here before, are
made by orderly_kit's branch (orderly_kit.migrations) with the outbox.
"""

from collections.abc import Sequence

from alembic import op

from orderly_kit.migrations import catch_up

revision: str = "60e9c3a0954d"
down_revision: str | None = "b3c4d5e6f7a8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    catch_up()  # only a database part way through its history lacks anything
    # The order service looks up an order's commands by key (adapters/command_queue.py).
    op.create_index("ix_outbox_message_key", "outbox", ["message_key"])


def downgrade() -> None:
    op.drop_index("ix_outbox_message_key", table_name="outbox")
