"""Reservation expiry: held stock past its deadline comes back, once, and says so.

Time is the job's ``now``: ``inventory.expire(after=...)`` scans as if that much
time had passed, so no test sleeps through a time-to-live.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from sqlalchemy import select

from orderly_inventory import use_cases
from orderly_inventory.adapters import orm
from orderly_inventory.adapters.reservations import ReservationRepository
from orderly_inventory.bootstrap import build
from orderly_inventory.settings import InventorySettings
from orderly_schemas.inventory import ReleaseStock

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory


async def test_an_expired_reservation_gives_its_stock_back_and_says_so_once(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3, west=5)
    order = uuid4()
    await inventory.reserve(order, ("A", 6), ttl=timedelta(minutes=10))

    expired = [await inventory.expire(after=timedelta(minutes=11)) for _ in range(2)]

    assert expired == [1, 0]
    assert await inventory.levels("A") == {"east": (3, 0), "west": (5, 0)}
    assert await inventory.reservations(order) == [
        ("A", "east", 3, "expired"),
        ("A", "west", 3, "expired"),
    ]
    [_, (kind, body)] = await inventory.published()
    assert kind == "StockReservationExpired"
    assert body["order_id"] == str(order)
    assert body["allocations"] == [
        {"sku": "A", "warehouse": "east", "quantity": 3},
        {"sku": "A", "warehouse": "west", "quantity": 3},
    ]
    assert body["reason"] == "reservation expired: stock was held 600s without the order shipping"


async def test_a_reservation_is_kept_until_its_deadline(inventory: Inventory) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2), ttl=timedelta(minutes=10))

    assert await inventory.expire(after=timedelta(minutes=9)) == 0

    assert await inventory.levels("A") == {"east": (3, 2)}
    assert await inventory.kinds() == ["StockReserved"]


async def test_the_deadline_is_kept_in_the_database_across_a_restart(
    inventory: Inventory, fresh_database: str
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2), ttl=timedelta(minutes=10))
    await inventory.service.database.dispose()
    # A new process, configured with another time-to-live: the deadline set at
    # reservation time is the one that counts.
    restarted = build(
        InventorySettings(database_url=fresh_database, reservation_ttl_seconds=60, log_json=False)
    )
    try:
        early, late = [
            await use_cases.fulfilment.expire_reservations(
                restarted.messaging, now=datetime.now(UTC) + timedelta(minutes=minutes)
            )
            for minutes in (5, 11)
        ]
    finally:
        await restarted.database.dispose()

    assert (early, late) == (0, 1)
    assert await inventory.levels("A") == {"east": (3, 0)}
    assert await inventory.kinds() == ["StockReserved", "StockReservationExpired"]


async def test_shipped_released_and_refused_orders_hold_nothing_to_expire(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=5)
    shipped, released, refused = uuid4(), uuid4(), uuid4()
    for order in (shipped, released):
        await inventory.reserve(order, ("A", 2))
    await inventory.reserve(refused, ("A", 9))
    await inventory.ship(shipped)
    await inventory.release(released)

    assert await inventory.expire(after=timedelta(days=1)) == 0

    assert await inventory.levels("A") == {"east": (3, 0)}
    assert await inventory.reservations(shipped) == [("A", "east", 2, "shipped")]
    assert await inventory.reservations(released) == [("A", "east", 2, "released")]
    assert "StockReservationExpired" not in await inventory.kinds()


async def test_ship_order_after_expiry_fails_and_release_gives_nothing_back_twice(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.expire()

    await inventory.ship(order)
    await inventory.release(order)

    assert await inventory.levels("A") == {"east": (3, 0)}
    published = await inventory.published()
    assert [kind for kind, _ in published] == [
        "StockReserved",
        "StockReservationExpired",
        "ShipmentFailed",
        "StockReleased",
    ]
    assert published[2][1]["reason"] == "no reserved stock for order"


async def test_an_order_whose_command_holds_its_lock_is_left_for_the_next_scan(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    busy, idle = uuid4(), uuid4()
    await inventory.reserve(busy, ("A", 1))
    await inventory.reserve(idle, ("A", 1))

    # A ShipOrder or ReleaseStock of ``busy`` that has taken the order's lock.
    async with inventory.service.database.transaction() as command:
        await ReservationRepository(command).lock_order(busy)
        during = await inventory.expire()
    after = await inventory.expire()

    assert (during, after) == (1, 1)
    assert await inventory.levels("A") == {"east": (3, 0)}
    expired = [b["order_id"] for k, b in await inventory.published() if k.endswith("Expired")]
    assert expired == [str(idle), str(busy)]


async def test_a_release_running_during_the_scan_is_neither_undone_nor_doubled(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))

    # The release has locked the order and its rows but not committed yet.
    async with inventory.service.messaging.unit_of_work() as uow:
        await use_cases.fulfilment.release_stock(
            uow, ReleaseStock(order_id=order, reason="cancelled")
        )
        during = await inventory.expire()
    after = await inventory.expire()

    assert (during, after) == (0, 0)
    assert await inventory.levels("A") == {"east": (3, 0)}
    assert await inventory.reservations(order) == [("A", "east", 2, "released")]
    assert await inventory.kinds() == ["StockReserved", "StockReleased"]


async def test_a_release_arriving_during_the_scan_waits_and_gives_nothing_back_twice(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    database = inventory.service.database

    # Hold the stock row so the scan stops after taking the order's lock and rows.
    async with database.transaction() as blocker:
        await blocker.execute(select(orm.stock_levels).with_for_update())
        scan = asyncio.create_task(inventory.expire())
        await inventory.until_waiting(1)
        release = asyncio.create_task(inventory.release(order))
        await inventory.until_waiting(2)
    expired, _ = await asyncio.gather(scan, release)

    assert expired == 1
    assert await inventory.levels("A") == {"east": (3, 0)}
    assert await inventory.reservations(order) == [("A", "east", 2, "expired")]
    assert await inventory.kinds() == ["StockReserved", "StockReservationExpired", "StockReleased"]


async def test_concurrent_releases_and_scans_give_every_unit_back_exactly_once(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=100, west=100)
    await inventory.stock("B", east=100, west=100)
    orders = [uuid4() for _ in range(30)]
    for i, order in enumerate(orders):
        await inventory.reserve(order, ("A", 1 + i % 3), ("B", 2 + i % 4))
    cancelled = orders[::2]  # the others only the scans can give back

    # Small batches: many scans, each racing the releases and one another.
    await asyncio.gather(
        *(
            task
            for order in cancelled
            for task in (inventory.release(order), inventory.expire(batch=3))
        )
    )
    await inventory.expire()  # the next poll takes what the racing scans left

    assert await inventory.expire() == 0
    assert await inventory.levels("A") == {"east": (100, 0), "west": (100, 0)}
    assert await inventory.levels("B") == {"east": (100, 0), "west": (100, 0)}
    c = orm.reservations.c
    statuses: dict[UUID, set[str]] = {}
    async with inventory.service.database.sessions() as s:
        for order_id, status in await s.execute(select(c.order_id, c.status)):
            statuses.setdefault(order_id, set()).add(status)
    assert {o for o, st in statuses.items() if st == {"released"}} <= set(cancelled)
    assert all(st in ({"released"}, {"expired"}) for st in statuses.values())
    published = await inventory.published()
    expired = Counter(b["order_id"] for k, b in published if k == "StockReservationExpired")
    assert set(expired.values()) == {1}
    assert set(expired) == {str(o) for o, st in statuses.items() if st == {"expired"}}
    released = Counter(b["order_id"] for k, b in published if k == "StockReleased")
    assert released == {str(o): 1 for o in cancelled}
