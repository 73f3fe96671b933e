"""The kit's outbox and inbox come from the kit's branch of migrations, once per database.

A database migrated before that branch existed (its services made the tables themselves)
holds only its service's revision in ``alembic_version``; migrating it to the heads of
both branches must change nothing.
"""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import MetaData, create_engine, text

from orderly_analytics import bootstrap as analytics
from orderly_analytics.adapters import orm as analytics_orm
from orderly_inventory import bootstrap as inventory
from orderly_inventory.adapters import orm as inventory_orm
from orderly_kit import migrations
from orderly_notification import bootstrap as notification
from orderly_notification.adapters import orm as notification_orm
from orderly_order import bootstrap as order
from orderly_order.adapters import orm as order_orm
from orderly_payment import bootstrap as payment
from orderly_payment.adapters import orm as payment_orm

#: Each service: its migrations, its tables, and its head before the kit had a branch.
SERVICES = {
    "order": (order.MIGRATIONS, order_orm.metadata, "60e9c3a0954d"),
    "inventory": (inventory.MIGRATIONS, inventory_orm.metadata, "261267c6366c"),
    "payment": (payment.MIGRATIONS, payment_orm.metadata, "224169f685f0"),
    "notification": (notification.MIGRATIONS, notification_orm.metadata, "7bcfad18da5f"),
    "analytics": (analytics.MIGRATIONS, analytics_orm.metadata, "e67bd4653c72"),
}

KIT_INDEXES = [
    ("inbox", "ix_inbox_dead_lettered"),
    ("inbox", "ix_inbox_processed_at"),
    ("inbox", "pk_inbox"),
    ("outbox", "ix_outbox_sent_at"),
    ("outbox", "ix_outbox_unsent"),
    ("outbox", "ix_outbox_unsent_key"),
    ("outbox", "pk_outbox"),
]

#: The schema as the catalog has it: columns, then indexes and constraints by definition.
SCHEMA = """
SELECT table_name::text, column_name::text,
       concat_ws(' ', data_type, is_nullable, column_default, is_identity)
  FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
ORDER BY 1, 2, 3
"""


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _create_tables(url: str, metadata: MetaData) -> None:
    engine = create_engine(url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def test_a_fresh_database_gets_the_outbox_and_inbox_once_from_the_kit(
    fresh_database: str,
) -> None:
    migrations.upgrade(order.MIGRATIONS, fresh_database)

    tables = _rows(
        fresh_database,
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_name IN ('outbox', 'inbox') ORDER BY 1",
    )
    indexes = _rows(
        fresh_database,
        "SELECT tablename, indexname FROM pg_indexes"
        " WHERE tablename IN ('outbox', 'inbox') ORDER BY 1, 2",
    )
    assert tables == [("inbox",), ("outbox",)]
    # The order service adds an index of its own to the kit's outbox.
    assert indexes == sorted([*KIT_INDEXES, ("outbox", "ix_outbox_message_key")])


@pytest.mark.parametrize("service", SERVICES)
def test_a_database_migrated_before_the_kit_branch_upgrades_without_a_change(
    fresh_database: str, service: str
) -> None:
    migrations_dir, metadata, head_before = SERVICES[service]
    # As deployed: every table made by the service's own revisions, and its head recorded.
    _create_tables(fresh_database, metadata)
    command.stamp(migrations.alembic_config(migrations_dir, fresh_database), head_before)
    schema_before = _rows(fresh_database, SCHEMA)

    migrations.upgrade(migrations_dir, fresh_database)

    assert _rows(fresh_database, SCHEMA) == schema_before
    assert _rows(fresh_database, "SELECT version_num FROM alembic_version") == [(head_before,)]
