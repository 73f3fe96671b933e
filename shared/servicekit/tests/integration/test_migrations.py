"""The kit's outbox and inbox come from the kit's branch of migrations, once per database.

A database migrated before that branch existed (its services made the tables themselves)
holds only its service's revision in ``alembic_version``; migrating it to the heads of
both branches must give it exactly the schema of a database migrated fresh, whether it
was at its service's head of that time or still at the service's first revision.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text

from orderly_analytics import bootstrap as analytics
from orderly_dev.servers import Servers
from orderly_inventory import bootstrap as inventory
from orderly_kit import migrations
from orderly_notification import bootstrap as notification
from orderly_order import bootstrap as order
from orderly_payment import bootstrap as payment

#: Each service: its migrations, its initial revision, and its head before the kit had a
#: branch of its own.
SERVICES = {
    "order": (order.MIGRATIONS, "c75087001652", "60e9c3a0954d"),
    "inventory": (inventory.MIGRATIONS, "1384887f7b88", "261267c6366c"),
    "payment": (payment.MIGRATIONS, "883c28b87eed", "224169f685f0"),
    "notification": (notification.MIGRATIONS, "aed4c7fd344e", "7bcfad18da5f"),
    "analytics": (analytics.MIGRATIONS, "f6d8d0d809bf", "e67bd4653c72"),
}
KIT_REVISION = "143e708560ca"

#: What the services' initial revisions did not make of the kit's tables: their later
#: revisions added it (the order service's outbox index by key too).
LATER_ADDITIONS = [
    "ALTER TABLE outbox DROP COLUMN kafka_partition",
    "ALTER TABLE outbox DROP COLUMN kafka_offset",
    "DROP INDEX ix_inbox_dead_lettered",
]
ORDER_LATER_ADDITIONS = ["DROP INDEX ix_outbox_unsent_key"]

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


def _execute(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def _as_before_the_kit_branch(url: str) -> None:
    """The database as the services' own revisions left it: only theirs recorded."""
    _execute(url, f"DELETE FROM alembic_version WHERE version_num = '{KIT_REVISION}'")


@pytest.fixture
def another_database(servers: Servers) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    servers.postgres.create_database(name)
    return servers.postgres.url(name)


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
def test_a_database_migrated_before_the_kit_branch_upgrades_to_the_same_schema(
    fresh_database: str, another_database: str, service: str
) -> None:
    migrations_dir, _initial, head_before = SERVICES[service]
    migrations.upgrade(migrations_dir, fresh_database)
    # As deployed: migrated to the service's head of that time, only that recorded.
    migrations.upgrade(migrations_dir, another_database, head_before)
    _as_before_the_kit_branch(another_database)

    migrations.upgrade(migrations_dir, another_database)

    assert _rows(another_database, SCHEMA) == _rows(fresh_database, SCHEMA)
    recorded = "SELECT version_num FROM alembic_version"
    heads = _rows(fresh_database, f"{recorded} WHERE version_num <> '{KIT_REVISION}' ORDER BY 1")
    assert _rows(another_database, f"{recorded} ORDER BY 1") == heads


@pytest.mark.parametrize("service", SERVICES)
def test_a_database_still_at_its_initial_revision_catches_up_with_the_kit_tables(
    fresh_database: str, another_database: str, service: str
) -> None:
    migrations_dir, initial, _head_before = SERVICES[service]
    migrations.upgrade(migrations_dir, fresh_database)
    # As the service's first revision made it, long before the kit had a branch.
    migrations.upgrade(migrations_dir, another_database, initial)
    _execute(
        another_database,
        *LATER_ADDITIONS,
        *(ORDER_LATER_ADDITIONS if service == "order" else []),
    )
    _as_before_the_kit_branch(another_database)

    migrations.upgrade(migrations_dir, another_database)

    assert _rows(another_database, SCHEMA) == _rows(fresh_database, SCHEMA)
