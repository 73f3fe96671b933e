"""The migrations build exactly the tables the code declares, and can be undone."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, create_engine, text

from orderly_kit import migrations
from orderly_payment.adapters import orm
from orderly_payment.bootstrap import MIGRATIONS

INITIAL = "883c28b87eed"


def _differences(url: str) -> tuple[list[object], set[str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), orm.metadata)
            checks = set(
                conn.execute(
                    text("SELECT conname FROM pg_constraint WHERE contype = 'c'")
                ).scalars()
            )
    finally:
        engine.dispose()
    return diff, checks


async def test_head_matches_the_tables_in_code_including_checks(fresh_database: str) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)

    diff, checks = await asyncio.to_thread(_differences, fresh_database)

    assert diff == []
    declared = {
        c.name
        for table in orm.metadata.tables.values()
        for c in table.constraints
        if isinstance(c, CheckConstraint)
    }
    assert declared <= checks


async def test_the_migrations_downgrade_and_upgrade_again(fresh_database: str) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)

    def down_and_up() -> None:
        config = migrations.alembic_config(MIGRATIONS, fresh_database)
        command.downgrade(config, "base")
        command.upgrade(config, "heads")

    await asyncio.to_thread(down_and_up)


async def test_payments_and_refunds_made_before_the_ledger_become_its_entries(
    fresh_database: str,
) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database, INITIAL)
    order_id = uuid4()

    def refund_then_upgrade() -> list[tuple[object, ...]]:
        engine = create_engine(fresh_database)
        try:
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO payments (payment_id, order_id, method, amount, currency,"
                        " status, provider_reference, idempotency_key) VALUES ('pay_1', :o,"
                        " 'credit_card', 1000, 'EUR', 'captured', 'sim_ch_1', 'capture:1')"
                    ),
                    {"o": order_id},
                )
                conn.execute(
                    text(
                        "INSERT INTO refunds (refund_id, order_id, payment_id, amount, currency,"
                        " status, provider_reference, reason) VALUES ('r1', :o, 'pay_1', 400,"
                        " 'EUR', 'succeeded', 'sim_re_1', 'cancelled')"
                    ),
                    {"o": order_id},
                )
            migrations.upgrade(MIGRATIONS, fresh_database)
            with engine.connect() as conn:
                return list(
                    conn.execute(
                        text(
                            "SELECT o.kind, o.idempotency_key, o.status, o.provider_reference,"
                            " o.attempt, p.status, p.capture_reference FROM payment_operations o"
                            " JOIN payments p USING (payment_id) ORDER BY o.id"
                        )
                    ).tuples()
                )
        finally:
            engine.dispose()

    rows = await asyncio.to_thread(refund_then_upgrade)

    assert rows == [
        ("capture", "capture:1", "succeeded", "sim_ch_1", None, "partially_refunded", "sim_ch_1"),
        ("refund", "refund:r1", "succeeded", "sim_re_1", 1, "partially_refunded", "sim_ch_1"),
    ]
