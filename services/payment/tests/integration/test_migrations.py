"""The migrations build exactly the tables the code declares, and can be undone."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from sqlalchemy import create_engine, text

from orderly_dev import schema
from orderly_kit import migrations
from orderly_payment.adapters import orm
from orderly_payment.bootstrap import MIGRATIONS

INITIAL = "883c28b87eed"


async def test_head_matches_the_tables_in_code_including_checks(fresh_database: str) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)

    diff, checks = await asyncio.to_thread(schema.differences, fresh_database, orm.metadata)

    assert diff == []
    assert schema.declared_checks(orm.metadata) <= checks


async def test_the_migrations_downgrade_and_upgrade_again(fresh_database: str) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)

    await asyncio.to_thread(schema.round_trip, MIGRATIONS, fresh_database)


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
