"""customers' words sealed under a data key per customer (customer_keys)

A case's subject, its messages, notes and the reasons of its moves, and a feedback's
comment are kept sealed (AES-GCM under this service's data key for the customer,
orderly_kit.personal_data) in a ``*_sealed`` column beside each. The plaintext columns
become nullable and keep the text only of rows written before, until
``python -m orderly_support customers seal-legacy`` moves it: a batch job rather than this
migration, because a migration has no keys (it runs from the schema alone), and because
during a rolling upgrade the pods of the version before still write plaintext after the
migration has run; the job, run once the rollout is done, seals those too.

Revision ID: fae1bd8603ac
Revises: 7070a149701a
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "fae1bd8603ac"
down_revision: str | None = "7070a149701a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, plaintext column, its type, whether it was required) of each text kept sealed.
TEXTS = (
    ("cases", "subject", sa.String(length=200), True),
    ("case_messages", "body", sa.Text(), True),
    ("case_notes", "body", sa.Text(), True),
    ("case_status_history", "reason", sa.Text(), False),
    ("feedback", "comment", sa.Text(), False),
)


def upgrade() -> None:
    op.create_table(
        "customer_keys",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_keys")),
    )
    for table, column, kind, required in TEXTS:
        op.add_column(table, sa.Column(f"{column}_sealed", sa.LargeBinary(), nullable=True))
        if required:
            op.alter_column(table, column, existing_type=kind, nullable=True)


def downgrade() -> None:
    bind = op.get_bind()
    sealed = sum(
        bind.scalar(
            sa.text(
                f"SELECT count(*) FROM {table} WHERE {column}_sealed IS NOT NULL"
                + (f" OR {column} IS NULL" if required else "")
            )
        )
        for table, column, _, required in TEXTS
    )
    if sealed:
        raise RuntimeError(
            f"{sealed} text(s) are kept sealed only, or were erased; they cannot be moved"
            " back without the keys: restore a backup instead"
        )
    for table, column, kind, required in TEXTS:
        if required:
            op.alter_column(table, column, existing_type=kind, nullable=False)
        op.drop_column(table, f"{column}_sealed")
    op.drop_table("customer_keys")
