"""Picking: with a pick delay the parcels leave only when the picking job hands them over.

Until then nothing is published and the stock stays reserved, so a ReleaseStock
that comes meanwhile (a customer's cancel after payment) wins. Time is the job's
``now``: ``inventory.hand_over(after=...)`` scans as if that much time had passed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from sqlalchemy import func, select

from orderly_inventory import use_cases
from orderly_inventory.adapters import orm
from orderly_inventory.adapters.carrier import Consignment, SimulatedCarrier
from orderly_inventory.adapters.reservations import ReservationRepository
from orderly_inventory.bootstrap import build
from orderly_inventory.domain.shipments import ParcelLine
from orderly_inventory.settings import InventorySettings
from orderly_kit.db import Database
from orderly_kit.service import Service
from orderly_schemas.checkout import Address
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.inventory import ReleaseStock

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory

PICKING = timedelta(minutes=10)
DONE = PICKING + timedelta(seconds=1)
RELEASED = "order was released while being picked"
EXPIRED = "stock reservation expired while the order was being picked"
REFUSAL = "SimPost does not deliver to postal code 00000"
REFUSED_ADDRESS = Address(
    name="Ada Lovelace", line1="1 Nowhere Lane", city="Void", postal_code="00000", country="GB"
)


async def test_without_a_pick_delay_ship_order_ships_at_once_and_records_the_picking_done(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))

    await inventory.ship(order)

    assert await inventory.kinds() == ["StockReserved", "OrderShipped"]
    # Kept for its (sealed) address, which a return of the order is collected from.
    assert await inventory.picking(order) == ("shipped", None)
    assert await inventory.hand_over(after=timedelta(days=1)) == 0
    assert await inventory.levels("A") == {"east": (1, 0)}


async def test_ship_order_publishes_nothing_until_the_picking_is_done_then_ships_once(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))

    await inventory.ship(order, pick_delay=PICKING)

    assert await inventory.kinds() == ["StockReserved"]
    assert await inventory.levels("A") == {"east": (3, 2)}
    assert await inventory.reservations(order) == [("A", "east", 2, "reserved")]
    assert await inventory.picking(order) == ("picking", None)
    scans = [await inventory.hand_over(after=after) for after in (PICKING / 2, DONE, DONE)]
    assert scans == [0, 1, 0]
    assert await inventory.kinds() == ["StockReserved", "OrderShipped"]
    assert await inventory.levels("A") == {"east": (1, 0)}
    assert await inventory.reservations(order) == [("A", "east", 2, "shipped")]
    assert await inventory.picking(order) == ("shipped", None)


async def test_the_hand_over_is_caused_by_the_ship_order(inventory: Inventory) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 1))
    ship_order = Envelope(
        type="ShipOrder", source="/orderly/order", subject=str(order), correlation_id=str(order)
    )
    await inventory.ship(order, pick_delay=PICKING, cause=ship_order)

    await inventory.hand_over(after=DONE)

    c = orm.outbox.c
    async with inventory.service.database.sessions() as s:
        headers = await s.scalar(select(c.headers).where(c.message_type == "OrderShipped"))
    assert headers is not None
    assert headers["ce_causationid"] == ship_order.id
    assert headers["ce_correlationid"] == str(order)


async def test_a_ship_order_redelivered_while_picking_changes_nothing(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.ship(order, pick_delay=PICKING)

    await inventory.ship(order, pick_delay=PICKING * 3)
    await inventory.ship(order)  # a pod configured without picking: the picking still counts

    assert await inventory.kinds() == ["StockReserved"]
    assert await inventory.hand_over(after=DONE) == 1
    assert await inventory.levels("A") == {"east": (1, 0)}
    await inventory.ship(order, pick_delay=PICKING)  # after the hand-over: the same shipment
    shipped = [body for kind, body in await inventory.published() if kind == "OrderShipped"]
    assert len(shipped) == 2
    assert shipped[0] == shipped[1]


async def test_a_release_during_picking_wins_and_a_later_ship_order_fails(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.ship(order, pick_delay=PICKING)

    await inventory.release(order)

    assert await inventory.levels("A") == {"east": (3, 0)}
    assert await inventory.reservations(order) == [("A", "east", 2, "released")]
    assert await inventory.picking(order) == ("cancelled", RELEASED)
    assert await inventory.hand_over(after=DONE) == 0
    await inventory.ship(order, pick_delay=PICKING)  # the saga's ShipOrder, re-sent
    await inventory.ship(order)
    published = await inventory.published()
    assert [kind for kind, _ in published] == [
        "StockReserved",
        "StockReleased",
        "ShipmentFailed",
        "ShipmentFailed",
    ]
    assert [body["reason"] for _, body in published[2:]] == [RELEASED, RELEASED]
    assert await inventory.levels("A") == {"east": (3, 0)}


async def test_an_order_whose_command_holds_its_lock_is_passed_over_until_the_next_scan(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    busy, idle = uuid4(), uuid4()
    for order in (busy, idle):
        await inventory.reserve(order, ("A", 1))
        await inventory.ship(order, pick_delay=PICKING)

    # A ShipOrder or ReleaseStock of ``busy`` that has taken the order's lock.
    async with inventory.service.database.transaction() as command:
        await ReservationRepository(command).lock_order(busy)
        during = await inventory.hand_over(after=DONE)
    after = await inventory.hand_over(after=DONE)

    assert (during, after) == (1, 1)
    shipped = [b["order_id"] for k, b in await inventory.published() if k == "OrderShipped"]
    assert sorted(shipped) == sorted([str(busy), str(idle)])
    assert shipped[-1] == str(busy)


async def test_a_release_running_during_the_scan_is_not_shipped(inventory: Inventory) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.ship(order, pick_delay=PICKING)

    # The release has cancelled the picking but not committed yet.
    async with inventory.service.messaging.unit_of_work() as uow:
        await use_cases.fulfilment.release_stock(
            uow, ReleaseStock(order_id=order, reason="cancelled")
        )
        during = await inventory.hand_over(after=DONE)
    after = await inventory.hand_over(after=DONE)

    assert (during, after) == (0, 0)
    assert await inventory.kinds() == ["StockReserved", "StockReleased"]
    assert await inventory.levels("A") == {"east": (3, 0)}


class HeldCarrier(SimulatedCarrier):
    """Books like the simulated carrier, but only once ``go`` is set."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.booking = asyncio.Event()
        self.go = asyncio.Event()

    async def book(
        self, *, order_id: UUID, warehouse: str, ship_to: Address, lines: Sequence[ParcelLine]
    ) -> Consignment:
        self.booking.set()
        await self.go.wait()
        return await super().book(
            order_id=order_id, warehouse=warehouse, ship_to=ship_to, lines=lines
        )


async def test_a_release_arriving_during_the_hand_over_waits_and_the_order_ships(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.ship(order, pick_delay=PICKING)
    carrier = inventory.carrier = HeldCarrier(inventory.service.database)

    scan = asyncio.create_task(inventory.hand_over(after=DONE))
    await asyncio.wait_for(carrier.booking.wait(), 10)
    release = asyncio.create_task(inventory.release(order))
    await inventory.until_waiting(1)
    carrier.go.set()
    handed_over, _ = await asyncio.gather(scan, release)

    # The parcel left first: the release gives nothing back, and the saga, seeing
    # OrderShipped before StockReleased, ships the order instead of refunding it.
    assert handed_over == 1
    assert await inventory.kinds() == ["StockReserved", "OrderShipped", "StockReleased"]
    assert await inventory.levels("A") == {"east": (1, 0)}
    assert await inventory.reservations(order) == [("A", "east", 2, "shipped")]


async def test_an_expired_reservation_cancels_its_picking(inventory: Inventory) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2), ttl=timedelta(minutes=5))
    await inventory.ship(order, pick_delay=PICKING)

    assert await inventory.expire(after=timedelta(minutes=6)) == 1

    assert await inventory.picking(order) == ("cancelled", EXPIRED)
    assert await inventory.hand_over(after=DONE) == 0
    await inventory.ship(order, pick_delay=PICKING)
    published = await inventory.published()
    assert [kind for kind, _ in published] == [
        "StockReserved",
        "StockReservationExpired",
        "ShipmentFailed",
    ]
    assert published[-1][1]["reason"] == EXPIRED
    assert await inventory.levels("A") == {"east": (3, 0)}


async def test_a_refused_hand_over_fails_the_shipment_and_keeps_the_stock_reserved(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.ship(order, pick_delay=PICKING, ship_to=REFUSED_ADDRESS)
    assert await inventory.kinds() == ["StockReserved"]  # the carrier is asked at hand-over

    assert await inventory.hand_over(after=DONE) == 1

    assert await inventory.levels("A") == {"east": (3, 2)}
    assert await inventory.picking(order) == ("failed", REFUSAL)
    await inventory.ship(order, pick_delay=PICKING)
    await inventory.release(order)
    failures = [b["reason"] for k, b in await inventory.published() if k == "ShipmentFailed"]
    assert failures == [REFUSAL, REFUSAL]
    assert await inventory.levels("A") == {"east": (3, 0)}
    assert "OrderShipped" not in await inventory.kinds()


class DownFor(SimulatedCarrier):
    """The simulated carrier, except that bookings of ``order`` fail as if it were unreachable."""

    def __init__(self, database: Database, order: UUID) -> None:
        super().__init__(database)
        self.order = order

    async def book(
        self, *, order_id: UUID, warehouse: str, ship_to: Address, lines: Sequence[ParcelLine]
    ) -> Consignment:
        if order_id == self.order:
            raise ConnectionError("carrier API unreachable")
        return await super().book(
            order_id=order_id, warehouse=warehouse, ship_to=ship_to, lines=lines
        )


async def test_a_transient_carrier_error_keeps_that_picking_due_and_hands_over_the_others(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    stuck, other = uuid4(), uuid4()
    for order in (stuck, other):  # ``stuck`` is due first
        await inventory.reserve(order, ("A", 1))
        await inventory.ship(order, pick_delay=PICKING)
    inventory.carrier = DownFor(inventory.service.database, stuck)

    assert await inventory.hand_over(after=DONE) == 1

    assert await inventory.picking(stuck) == ("picking", None)
    assert await inventory.reservations(stuck) == [("A", "east", 1, "reserved")]
    inventory.carrier = SimulatedCarrier(inventory.service.database, clock=inventory.clock)
    assert await inventory.hand_over(after=DONE) == 1
    shipped = [b["order_id"] for k, b in await inventory.published() if k == "OrderShipped"]
    assert shipped == [str(other), str(stuck)]


def _replica(database_url: str) -> Service:
    """Another process of the service on the same database (default settings: no picking)."""
    return build(InventorySettings(database_url=database_url, log_json=False))


async def test_a_picking_survives_a_restart(inventory: Inventory, fresh_database: str) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.ship(order, pick_delay=PICKING)
    await inventory.service.database.dispose()
    restarted = _replica(fresh_database)
    try:
        early = await inventory.hand_over(after=PICKING / 2, service=restarted)
        late = await inventory.hand_over(after=DONE, service=restarted)
    finally:
        await restarted.database.dispose()

    assert (early, late) == (0, 1)
    assert await inventory.kinds() == ["StockReserved", "OrderShipped"]
    assert await inventory.levels("A") == {"east": (1, 0)}


class SlowCarrier(SimulatedCarrier):
    """Takes a moment to book, so that racing scans overlap."""

    async def book(
        self, *, order_id: UUID, warehouse: str, ship_to: Address, lines: Sequence[ParcelLine]
    ) -> Consignment:
        await asyncio.sleep(0.02)
        return await super().book(
            order_id=order_id, warehouse=warehouse, ship_to=ship_to, lines=lines
        )


async def test_two_replicas_racing_hand_each_picking_over_once(
    inventory: Inventory, fresh_database: str
) -> None:
    await inventory.stock("A", east=100, west=100)
    orders = [uuid4() for _ in range(20)]
    for i, order in enumerate(orders):
        await inventory.reserve(order, ("A", 1 + i % 3))
        await inventory.ship(order, pick_delay=PICKING)
    inventory.carrier = SlowCarrier(inventory.service.database)
    replicas = [inventory.service, _replica(fresh_database)]
    try:
        scans = await asyncio.gather(
            *(inventory.hand_over(after=DONE, service=r) for r in replicas * 2)
        )
    finally:
        await replicas[1].database.dispose()

    assert sum(scans) == len(orders)
    assert min(sum(scans[0::2]), sum(scans[1::2])) > 0  # both replicas did part of the work
    shipped = Counter(b["order_id"] for k, b in await inventory.published() if k == "OrderShipped")
    assert shipped == {str(order): 1 for order in orders}
    units = sum(1 + i % 3 for i in range(len(orders)))
    levels = await inventory.levels("A")
    assert sum(on_hand for on_hand, _ in levels.values()) == 200 - units
    assert sum(reserved for _, reserved in levels.values()) == 0
    async with inventory.service.database.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(orm.shipments)) == len(orders)


async def test_releases_racing_the_scans_either_ship_or_give_back_never_both(
    inventory: Inventory, fresh_database: str
) -> None:
    await inventory.stock("A", east=100)
    orders = [uuid4() for _ in range(20)]
    for order in orders:
        await inventory.reserve(order, ("A", 2))
        await inventory.ship(order, pick_delay=PICKING)
    inventory.carrier = SlowCarrier(inventory.service.database)
    replica = _replica(fresh_database)
    try:
        await asyncio.gather(
            inventory.hand_over(after=DONE),
            inventory.hand_over(after=DONE, service=replica),
            *(inventory.release(order) for order in orders[::2]),
        )
        await inventory.hand_over(after=DONE)  # what the racing scans passed over
    finally:
        await replica.database.dispose()

    published = await inventory.published()
    shipped = {b["order_id"] for k, b in published if k == "OrderShipped"}
    released = Counter(b["order_id"] for k, b in published if k == "StockReleased")
    assert released == {str(order): 1 for order in orders[::2]}
    assert {str(order) for order in orders[1::2]} <= shipped
    assert len([k for k, _ in published if k == "OrderShipped"]) == len(shipped)
    statuses = {
        str(order): {status for *_, status in await inventory.reservations(order)}
        for order in orders
    }
    assert all(statuses[o] == ({"shipped"} if o in shipped else {"released"}) for o in statuses)
    assert await inventory.levels("A") == {"east": (100 - 2 * len(shipped), 0)}
    assert await inventory.hand_over(after=DONE) == 0
