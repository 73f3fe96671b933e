"""inbox index of dead letters waiting (now the kit's: caught up here)

Revision ID: 15cba2212cca
Revises: aab26e582ab7
Create Date: 2026-11-25 10:37:51.503330

Kept so that databases which ran it still find their history, and so that one
still before it catches up (orderly_kit.migrations.catch_up); the index is
made by orderly_kit's branch (orderly_kit.migrations) with the inbox.
"""

from collections.abc import Sequence

from orderly_kit.migrations import catch_up

revision: str = "15cba2212cca"
down_revision: str | None = "aab26e582ab7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    catch_up()  # only a database part way through its history lacks anything


def downgrade() -> None:
    pass
