"""Order KPIs computed by PostgreSQL over a known set of orders with known lead times.

Expected percentiles are worked out by hand with percentile_cont's rule: over n
sorted values, fraction f sits at position f * (n - 1), interpolated linearly
between the values on either side.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import insert

from orderly_analytics import queries
from orderly_analytics.adapters.orm import order_stages
from orderly_analytics.bootstrap import MIGRATIONS
from orderly_analytics.domain.order_stages import Stage, current_status
from orderly_kit import migrations
from orderly_kit.db import Database

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
SINCE, UNTIL = T0, T0 + timedelta(days=1)


def placed(at: datetime, **seconds_later: int) -> dict[Stage, datetime]:
    """Stamps of an order placed ``at`` that reached each named stage so many seconds later."""
    later = {Stage(name): at + timedelta(seconds=s) for name, s in seconds_later.items()}
    return {Stage.PLACED: at, **later}


# Placed inside [SINCE, UNTIL): placed → dispatched 100, 200, 300, 1000 s;
# placed → completed 1000, 2000 s.
IN_WINDOW = [
    placed(T0, dispatched=100, completed=1000),  # on SINCE: inside, the bound is inclusive
    placed(T0 + 1 * HOUR, dispatched=200, completed=2000),
    placed(T0 + 2 * HOUR, dispatched=300, delivered=400),
    placed(T0 + 3 * HOUR, dispatched=1000, cancelled=1100),
    placed(T0 + 4 * HOUR, rejected=60),
    placed(T0 + 5 * HOUR, confirmed=60),
    placed(T0 + 6 * HOUR, confirmed=60, paid=120),
]
# Outside it: shipped after 50 s and completed after 500 s; one still only placed;
# one whose OrderPlaced has not arrived, so it has no placement time at all.
OUTSIDE_WINDOW = [
    placed(T0 - timedelta(seconds=1), dispatched=50, completed=500),
    placed(UNTIL),  # on UNTIL: outside, the bound is exclusive
    {Stage.CONFIRMED: T0 + 2 * HOUR},
]


@pytest.fixture
async def database(fresh_database: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    db = Database(fresh_database, pool_size=2)
    yield db
    await db.dispose()


async def given_orders(database: Database, orders: list[dict[Stage, datetime]]) -> None:
    rows = [
        {
            "order_id": uuid4(),
            "status": current_status(stamps).value,
            **{f"{stage}_at": at for stage, at in stamps.items()},
        }
        for stamps in orders
    ]
    async with database.transaction() as session:
        for row in rows:
            await session.execute(insert(order_stages).values(**row))


async def kpis(database: Database, **bounds: datetime) -> queries.order_stages.KpisRead:
    async with database.sessions() as session:
        return await queries.order_stages.order_kpis(session, **bounds)


async def test_kpis_of_the_orders_placed_in_a_window(database: Database) -> None:
    await given_orders(database, IN_WINDOW + OUTSIDE_WINDOW)
    result = await kpis(database, since=SINCE, until=UNTIL)
    assert result.orders_by_status == {
        Stage.PLACED: 0,
        Stage.CONFIRMED: 1,
        Stage.PAID: 1,
        Stage.DISPATCHED: 0,
        Stage.DELIVERED: 1,
        Stage.COMPLETED: 2,
        Stage.REJECTED: 1,
        Stage.CANCELLED: 1,
        Stage.NEEDS_ATTENTION: 0,
    }
    assert result.orders_total == 7
    assert result.completion_rate == 2 / 4
    shipped, completed = result.placed_to_shipped_seconds, result.placed_to_completed_seconds
    # [100, 200, 300, 1000]: p50 at 1.5 → 250; p95 at 2.85 → 300 + 0.85 * 700 = 895
    assert (shipped.count, shipped.p50) == (4, 250.0)
    assert shipped.p95 == pytest.approx(895.0)
    # [1000, 2000]: p50 at 0.5 → 1500; p95 at 0.95 → 1000 + 0.95 * 1000 = 1950
    assert (completed.count, completed.p50) == (2, 1500.0)
    assert completed.p95 == pytest.approx(1950.0)


async def test_kpis_without_bounds_count_every_order_seen(database: Database) -> None:
    await given_orders(database, IN_WINDOW + OUTSIDE_WINDOW)
    result = await kpis(database)
    assert result.orders_by_status[Stage.PLACED] == 1
    assert result.orders_by_status[Stage.CONFIRMED] == 2
    assert result.orders_by_status[Stage.COMPLETED] == 3
    assert result.orders_total == 10
    assert result.completion_rate == 3 / 5
    shipped, completed = result.placed_to_shipped_seconds, result.placed_to_completed_seconds
    # [50, 100, 200, 300, 1000]: p50 at 2 → 200; p95 at 3.8 → 300 + 0.8 * 700 = 860
    assert (shipped.count, shipped.p50) == (5, 200.0)
    assert shipped.p95 == pytest.approx(860.0)
    # [500, 1000, 2000]: p50 at 1 → 1000; p95 at 1.9 → 1000 + 0.9 * 1000 = 1900
    assert (completed.count, completed.p50) == (3, 1000.0)
    assert completed.p95 == pytest.approx(1900.0)


async def test_kpis_of_no_orders_are_zero_and_unknown(database: Database) -> None:
    await given_orders(database, OUTSIDE_WINDOW)
    result = await kpis(database, since=SINCE, until=UNTIL)
    assert result.orders_total == 0
    assert set(result.orders_by_status.values()) == {0}
    assert result.completion_rate is None
    assert result.placed_to_shipped_seconds == queries.order_stages.DurationRead(
        p50=None, p95=None, count=0
    )
    assert result.placed_to_completed_seconds == queries.order_stages.DurationRead(
        p50=None, p95=None, count=0
    )
