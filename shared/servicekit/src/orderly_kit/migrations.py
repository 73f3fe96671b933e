"""Alembic, driven from code: one migrations folder per service."""

from __future__ import annotations

from pathlib import Path

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import BigInteger, Column, Integer, MetaData, create_engine, pool


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    """Migrate a service's database to ``revision``."""
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


def add_outbox_positions() -> None:
    """The outbox's ``kafka_partition`` / ``kafka_offset`` (every service's migration)."""
    op.add_column("outbox", Column("kafka_partition", Integer, nullable=True))
    op.add_column("outbox", Column("kafka_offset", BigInteger, nullable=True))


def drop_outbox_positions() -> None:
    op.drop_column("outbox", "kafka_offset")
    op.drop_column("outbox", "kafka_partition")
