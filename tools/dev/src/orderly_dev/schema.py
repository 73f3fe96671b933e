"""A service's migrations against its tables in code, for its migration tests.

``differences`` migrates nothing: it compares the database at ``url`` (migrated by the
test) with ``metadata`` as Alembic's autogenerate would, and lists the CHECK constraints
the database holds (autogenerate does not compare those). ``round_trip`` downgrades the
database to nothing and upgrades it again.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, MetaData, create_engine, text

from orderly_kit import migrations


def differences(url: str, metadata: MetaData) -> tuple[list[object], set[str]]:
    """What autogenerate would change to make the database ``metadata``, and the names of
    the database's CHECK constraints."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            checks = set(
                conn.execute(
                    text("SELECT conname FROM pg_constraint WHERE contype = 'c' AND conrelid <> 0")
                ).scalars()
            )
    finally:
        engine.dispose()
    return diff, checks


def declared_checks(metadata: MetaData) -> set[str]:
    """The names of the CHECK constraints ``metadata`` declares."""
    return {
        str(c.name)
        for table in metadata.tables.values()
        for c in table.constraints
        if isinstance(c, CheckConstraint)
    }


def round_trip(migrations_dir: Path, url: str) -> None:
    """Downgrade the database at ``url`` to nothing, then upgrade it to every head again."""
    config = migrations.alembic_config(migrations_dir, url)
    command.downgrade(config, "base")
    command.upgrade(config, "heads")
