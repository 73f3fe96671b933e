"""outbox rows remember where the relay put them (now the kit's: caught up here)

Revision ID: 261267c6366c
Revises: d7e8f9a0b1c2
Create Date: 2026-12-06 17:40:00

Kept so that databases which ran it still find their history, and so that one
still before it catches up (orderly_kit.migrations.catch_up); the columns
are made by orderly_kit's branch (orderly_kit.migrations) with the outbox.
"""

from collections.abc import Sequence

from orderly_kit.migrations import catch_up

revision: str = "261267c6366c"
down_revision: str | None = "d7e8f9a0b1c2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    catch_up()  # only a database part way through its history lacks anything


def downgrade() -> None:
    pass
