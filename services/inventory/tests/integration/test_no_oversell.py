"""No oversell under concurrency: row locks are the mechanism, the CHECK the last defence."""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from orderly_inventory.adapters import orm
from orderly_inventory.domain.allocation import Policy, wanted_by_sku
from orderly_inventory.domain.regions import Region, Regions
from orderly_schemas.checkout import Address

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory


async def test_forty_concurrent_orders_for_the_last_ten_units_get_exactly_ten(
    inventory: Inventory,
) -> None:
    await inventory.stock("LAST", east=10)
    orders = [uuid4() for _ in range(40)]

    await asyncio.gather(*(inventory.reserve(order, ("LAST", 1)) for order in orders))

    kinds = await inventory.kinds()
    assert kinds.count("StockReserved") == 10
    assert kinds.count("StockReservationFailed") == 30
    assert await inventory.levels("LAST") == {"east": (10, 10)}


async def test_concurrent_orders_over_shared_skus_in_any_line_order_never_deadlock(
    inventory: Inventory,
) -> None:
    for sku in ("A", "B", "C"):
        await inventory.stock(sku, east=7, west=7)
    rng = random.Random(7)
    orders = []
    for _ in range(30):
        lines = [("A", 1), ("B", 1), ("C", 1)]
        rng.shuffle(lines)
        orders.append((uuid4(), lines))

    # A deadlock would surface here as an error from PostgreSQL's deadlock detector.
    await asyncio.gather(*(inventory.reserve(order, *lines) for order, lines in orders))

    kinds = await inventory.kinds()
    assert kinds.count("StockReserved") == 14
    assert kinds.count("StockReservationFailed") == 16
    for sku in ("A", "B", "C"):
        assert await inventory.levels(sku) == {"east": (7, 7), "west": (7, 7)}


async def test_concurrent_repeats_of_one_reserve_stock_reserve_once(inventory: Inventory) -> None:
    await inventory.stock("A", east=10)
    order = uuid4()

    await asyncio.gather(*(inventory.reserve(order, ("A", 3)) for _ in range(10)))

    assert await inventory.kinds() == ["StockReserved"] * 10
    assert await inventory.levels("A") == {"east": (10, 3)}


async def test_concurrent_ship_and_release_of_one_order_do_one_or_the_other(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=5)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))

    await asyncio.gather(inventory.ship(order), inventory.release(order), inventory.ship(order))

    levels = await inventory.levels("A")
    assert levels in ({"east": (3, 0)}, {"east": (5, 0)})
    kinds = (await inventory.kinds())[1:]
    assert sorted(kinds) in (
        ["OrderShipped", "OrderShipped", "StockReleased"],
        ["ShipmentFailed", "ShipmentFailed", "StockReleased"],
    )


async def test_the_database_refuses_to_reserve_more_than_is_on_hand(inventory: Inventory) -> None:
    await inventory.stock("A", east=2)
    c = orm.stock_levels.c

    with pytest.raises(IntegrityError, match="ck_stock_levels_reserved_within_on_hand"):
        async with inventory.service.database.transaction() as s:
            await s.execute(update(orm.stock_levels).where(c.sku == "A").values(reserved=3))

    assert await inventory.levels("A") == {"east": (2, 0)}


# --------------------------------------------------------------------------- many orders, many SKUs

SKUS = tuple(f"SKU-{i}" for i in range(6))
ORDERS = 200
#: east serves Poland, west France; the US is served by no region (nearest: by priority).
REGIONS = Regions(
    [Region("east", countries=frozenset({"PL"})), Region("west", countries=frozenset({"FR"}))]
)
SHIP_TO: tuple[Address | None, ...] = (
    *(
        Address(name="Buyer", line1="1 Main Street", city="City", postal_code=code, country=country)
        for country, code in (("PL", "00-001"), ("FR", "75001"), ("US", "10001"))
    ),
    None,
)


@dataclass
class Order:
    order_id: UUID
    lines: list[tuple[str, int]]
    ship_to: Address | None

    @property
    def wanted(self) -> dict[str, int]:
        return wanted_by_sku(self.lines)


def many_orders(seed: int) -> list[Order]:
    """ORDERS orders of 2 to 4 SKUs each (1 to 3 units a line), to any of the addresses."""
    rng = random.Random(seed)
    return [
        Order(
            uuid4(),
            [(sku, rng.randint(1, 3)) for sku in rng.sample(SKUS, rng.randint(2, 4))],
            rng.choice(SHIP_TO),
        )
        for _ in range(ORDERS)
    ]


def demand(orders: list[Order]) -> Counter[str]:
    total: Counter[str] = Counter()
    for order in orders:
        total.update(order.wanted)
    return total


async def reserve_all_at_once(inventory: Inventory, orders: list[Order]) -> None:
    # A deadlock or a CHECK violation would surface here as an error.
    await asyncio.gather(
        *(inventory.reserve(o.order_id, *o.lines, ship_to=o.ship_to) for o in orders)
    )


async def answers(inventory: Inventory) -> dict[str, tuple[str, dict[str, Any]]]:
    """order id → (StockReserved or StockReservationFailed, body): the one answer of each."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for kind, body in await inventory.published():
        if kind in ("StockReserved", "StockReservationFailed"):
            assert body["order_id"] not in found, f"order {body['order_id']} answered twice"
            found[body["order_id"]] = (kind, body)
    return found


async def reservation_rows(inventory: Inventory) -> dict[str, Counter[tuple[str, str]]]:
    """order id → (sku, warehouse) → units held."""
    c = orm.reservations.c
    rows: dict[str, Counter[tuple[str, str]]] = {}
    async with inventory.service.database.sessions() as s:
        for order_id, sku, warehouse, quantity, status in await s.execute(
            select(c.order_id, c.sku, c.warehouse, c.quantity, c.status)
        ):
            assert status == "reserved"
            rows.setdefault(str(order_id), Counter())[sku, warehouse] += quantity
    return rows


async def assert_every_unit_accounted_for(
    inventory: Inventory, orders: list[Order], stock: dict[str, dict[str, int]]
) -> tuple[Counter[str], dict[str, int]]:
    """Each order answered once, exactly as held; levels = rows = events. (served, available)."""
    answered = await answers(inventory)
    assert set(answered) == {str(o.order_id) for o in orders}
    rows = await reservation_rows(inventory)
    served: Counter[str] = Counter()  # per SKU, from the StockReserved events
    for order in orders:
        kind, body = answered[str(order.order_id)]
        if kind == "StockReserved":
            allocated: Counter[tuple[str, str]] = Counter()
            for a in body["allocations"]:
                allocated[a["sku"], a["warehouse"]] += a["quantity"]
            by_sku: Counter[str] = Counter()
            for (sku, _), units in allocated.items():
                by_sku[sku] += units
            assert by_sku == order.wanted, f"order {order.order_id} got {allocated}"
            assert rows.get(str(order.order_id)) == allocated
            served.update(by_sku)
        else:
            assert str(order.order_id) not in rows
    available: dict[str, int] = {}
    for sku in SKUS:
        levels = await inventory.levels(sku)
        for warehouse, (on_hand, reserved) in levels.items():
            assert on_hand == stock[sku].get(warehouse, 0)  # reserving moves no stock
            assert 0 <= reserved <= on_hand
        reserved_units = sum(reserved for _, reserved in levels.values())
        held = sum(n for held_by in rows.values() for (s, _), n in held_by.items() if s == sku)
        assert served[sku] == held == reserved_units
        total = sum(stock[sku].values())
        assert served[sku] <= min(demand(orders)[sku], total)
        available[sku] = total - reserved_units
    return served, available


def random_stock(seed: int, *, low: int, high: int) -> dict[str, dict[str, int]]:
    rng = random.Random(seed)
    return {sku: {"east": rng.randint(low, high), "west": rng.randint(low, high)} for sku in SKUS}


@pytest.mark.parametrize("policy", list(Policy))
async def test_two_hundred_concurrent_multi_sku_orders_over_limited_stock_account_for_every_unit(
    inventory: Inventory, policy: Policy
) -> None:
    inventory.policy, inventory.regions = policy, REGIONS
    orders = many_orders(seed=11)
    stock = random_stock(seed=12, low=10, high=40)  # about half of what the orders want
    for sku, units in stock.items():
        await inventory.stock(sku, **units)
    assert all(demand(orders)[sku] > sum(stock[sku].values()) for sku in SKUS)

    await reserve_all_at_once(inventory, orders)

    served, available = await assert_every_unit_accounted_for(inventory, orders, stock)
    answered = await answers(inventory)
    refused = [o for o in orders if answered[str(o.order_id)][0] == "StockReservationFailed"]
    assert 0 < len(refused) < ORDERS
    # No order was refused while its stock was there: stock only ever went down, so what
    # was short when it was refused is still short now, by at least as much.
    for order in refused:
        body = answered[str(order.order_id)][1]
        short = {s: int(n) for s, n in re.findall(r"(\S+) is short by (\d+)", body["reason"])}
        assert body["reason"].startswith("insufficient stock: ")
        assert short, body["reason"]
        assert sorted(short) == body["short_skus"]
        for sku, missing in short.items():
            assert available[sku] <= order.wanted[sku] - missing
    assert sum(served.values()) > 0


@pytest.mark.parametrize("policy", list(Policy))
async def test_two_hundred_concurrent_orders_with_just_enough_stock_are_all_served_exactly(
    inventory: Inventory, policy: Policy
) -> None:
    inventory.policy, inventory.regions = policy, REGIONS
    orders = many_orders(seed=21)
    wanted = demand(orders)
    # Exactly the demand, split unevenly over the two warehouses: many orders must split.
    rng = random.Random(22)
    stock = {}
    for sku in SKUS:
        east = rng.randint(wanted[sku] // 3, 2 * wanted[sku] // 3)
        stock[sku] = {"east": east, "west": wanted[sku] - east}
        await inventory.stock(sku, **stock[sku])

    await reserve_all_at_once(inventory, orders)

    served, available = await assert_every_unit_accounted_for(inventory, orders, stock)
    kinds = Counter(kind for kind, _ in (await answers(inventory)).values())
    assert kinds == {"StockReserved": ORDERS}
    for sku in SKUS:
        assert served[sku] == min(wanted[sku], sum(stock[sku].values())) == wanted[sku]
        assert available[sku] == 0
        assert await inventory.levels(sku) == {w: (n, n) for w, n in stock[sku].items()}
