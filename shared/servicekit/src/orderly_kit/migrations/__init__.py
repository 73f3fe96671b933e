"""Alembic, driven from code: the kit's branch of migrations plus one branch per service.

A service's database holds two kinds of tables: the kit's (``outbox``, ``inbox``, from
``orderly_kit.messaging_tables``) and its own. Each kind has its own Alembic branch,
and both share the database's ``alembic_version`` table:

- ``orderly_kit``: the revisions in ``orderly_kit/migrations/versions``, written once
  for every service;
- ``orderly_<service>``: the revisions in the service's ``migrations/versions``. Its
  initial revision ``depends_on`` the kit's first one, so Alembic runs the kit's
  revision first, and counts it as applied in any database already past that initial
  revision (databases migrated before the kit had a branch made the tables themselves).

The service revisions that used to change the kit's tables (the outbox's Kafka
positions, the inbox's dead-letter index, the outbox's unsent-by-key index) now call
``catch_up()``: a database still part way through its service's history when it meets
this code gets what the kit's revision would have given it, and on any other database
the call changes nothing.

Two branches mean two heads: migrate to ``heads`` (``upgrade`` does); ``head`` is
ambiguous. A kit revision goes on ``orderly_kit@head``, a service's on
``orderly_<service>@head`` (``alembic revision --head ...``).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, pool

#: The kit's own revisions, a second version location of every service.
KIT_VERSIONS = Path(__file__).parent / "versions"


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    # One location a line: a path may hold spaces, not newlines.
    config.set_main_option("path_separator", "newline")
    config.set_main_option("version_locations", f"{migrations_dir / 'versions'}\n{KIT_VERSIONS}")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


#: What the kit's revision makes that a service's own early revisions did not, each
#: statement a no-op where it is there already.
_CATCH_UP = (
    "ALTER TABLE outbox ADD COLUMN IF NOT EXISTS kafka_partition integer",
    "ALTER TABLE outbox ADD COLUMN IF NOT EXISTS kafka_offset bigint",
    "CREATE INDEX IF NOT EXISTS ix_inbox_dead_lettered ON inbox (topic)"
    " WHERE outcome = 'dead_lettered'",
    "CREATE INDEX IF NOT EXISTS ix_outbox_unsent_key ON outbox (message_key, id)"
    " WHERE sent_at IS NULL",
)


def catch_up() -> None:
    """Give the kit's tables what the kit's revision would have: for a database whose
    service branch began before the kit had one (see the module's docstring)."""
    for statement in _CATCH_UP:
        op.execute(statement)


def upgrade(migrations_dir: Path, database_url: str, revision: str = "heads") -> None:
    """Migrate a service's database to ``revision`` (both branches' heads by default)."""
    command.upgrade(alembic_config(migrations_dir, database_url), revision)


def run_env(metadata: MetaData) -> None:
    """The body of every service's ``migrations/env.py``."""
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    assert url, "sqlalchemy.url is not set"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
