"""Replacements: a claim's reshipment of a lost parcel, or an exchange's new goods, taken from
available stock and shipped in parcels of their own, then tracked until they end.

What the order service does: send ShipReplacement (the address sealed as in ShipOrder) and
wait for ReplacementShipped or ReplacementRefused; it may re-send the command. Later the
carrier's webhooks track each parcel (ShipmentTracked) and ReplacementDelivered or
ReplacementFailed ends the replacement, never the order's own ShipmentDelivered or
ShipmentFailed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import select, update

from orderly_inventory.adapters import orm
from orderly_inventory.domain.errors import ConflictError
from orderly_inventory.domain.ledger import SAGA_ACTOR, SYSTEM_ACTOR
from orderly_inventory.domain.shipments import ADDRESS_ERASED
from orderly_kit.customers import forget_customer
from orderly_schemas.checkout import Address
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.personal import CustomerErased

if TYPE_CHECKING:  # fixtures' types; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory

ADA = Address(
    name="Ada Lovelace", line1="1 Market Street", city="London", postal_code="N1 9GU", country="GB"
)
#: SimPost books a parcel to 00001, then fails it in transit (the tracking tests' hook).
UNDELIVERABLE = Address(
    name="Ada Lovelace", line1="1 Nowhere Lane", city="Void", postal_code="00001", country="GB"
)
#: ... and refuses to book one to 00000.
REFUSED = Address(
    name="Ada Lovelace", line1="1 Nowhere Lane", city="Void", postal_code="00000", country="GB"
)
ALL_DUE = timedelta(seconds=6)
PICKING = timedelta(minutes=10)
DONE = PICKING + timedelta(seconds=1)
ANSWERS = ("ReplacementShipped", "ReplacementRefused")
ENDINGS = ("ReplacementDelivered", "ReplacementFailed", "ShipmentDelivered", "ShipmentFailed")


async def shipped_order(inventory: Inventory, *lines: tuple[str, int]) -> UUID:
    """An order of ``lines`` reserved and shipped (the stock must be there)."""
    order = uuid4()
    await inventory.reserve(order, *lines)
    await inventory.ship(order)
    return order


async def answers(inventory: Inventory) -> list[tuple[str, dict[str, Any]]]:
    return [(kind, body) for kind, _, body in await inventory.sent(*ANSWERS)]


async def movements(inventory: Inventory, replacement_id: UUID) -> list[tuple[Any, ...]]:
    """(sku, warehouse, kind, units, on hand delta, actor) of the replacement's movements."""
    return [
        (sku, warehouse, kind, quantity, on_hand, actor)
        for sku, warehouse, kind, quantity, on_hand, _, actor in await inventory.movements(
            str(replacement_id)
        )
    ]


async def erase(inventory: Inventory) -> None:
    async with inventory.service.messaging.unit_of_work() as uow:
        erased = CustomerErased(customer_id="C-ADA", occurred_at=datetime.now(UTC))
        await forget_customer(uow, erased)


async def test_a_replacement_ships_at_once_in_a_parcel_of_its_own_from_available_stock(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("A", east=5)
    order = await shipped_order(inventory, ("A", 2))
    [own] = await inventory.shipments(order)
    replacement = uuid4()

    await inventory.ship_replacement(order, replacement, ("A", 1))

    [(kind, shipped)] = await answers(inventory)
    assert kind == "ReplacementShipped"
    [parcel] = shipped["parcels"]
    assert (parcel["warehouse"], parcel["carrier"], parcel["lines"]) == (
        "east",
        "SimPost",
        [{"sku": "A", "quantity": 1}],
    )
    assert parcel["tracking_number"] != own["tracking_number"]
    assert (shipped["order_id"], shipped["replacement_id"]) == (str(order), str(replacement))
    # The order's own stock and shipment are as they were; the replacement's are its own.
    assert await inventory.reservations(order) == [("A", "east", 2, "shipped")]
    assert await inventory.levels("A") == {"east": (2, 0)}
    assert await movements(inventory, replacement) == [
        ("A", "east", "reservation", 1, 0, SAGA_ACTOR),
        ("A", "east", "shipment", 1, -1, SYSTEM_ACTOR),
    ]
    reasons = await inventory.reasons(str(replacement))
    assert all(f"replacement {replacement} of order {order}" in r for r in reasons)
    assert reasons[1].endswith(f"shipped with SimPost as {parcel['tracking_number']}")
    order_shipment = (await client.get(f"/shipments/{order}")).json()
    assert [p["tracking_number"] for p in order_shipment["parcels"]] == [own["tracking_number"]]
    row = await inventory.replacement(replacement)
    assert row is not None
    assert (row["status"], row["customer_id"], row["ship_to"]) == ("shipped", "C-ADA", None)
    assert isinstance(row["ship_to_sealed"], bytes)  # kept sealed, as a picking keeps it
    assert ADA.line1.encode() not in row["ship_to_sealed"]


async def test_a_replacement_no_warehouse_can_serve_whole_leaves_in_one_parcel_per_warehouse(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=1, west=2)
    replacement = uuid4()

    await inventory.ship_replacement(uuid4(), replacement, ("A", 3))

    [(_, shipped)] = await answers(inventory)
    assert [(p["warehouse"], p["lines"]) for p in shipped["parcels"]] == [
        ("east", [{"sku": "A", "quantity": 1}]),
        ("west", [{"sku": "A", "quantity": 2}]),
    ]
    assert len({p["tracking_number"] for p in shipped["parcels"]}) == 2
    assert await inventory.levels("A") == {"east": (0, 0), "west": (0, 0)}


async def test_a_replacement_taking_stock_below_its_safety_stock_raises_the_low_stock_alert(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    async with inventory.service.database.transaction() as s:
        await s.execute(update(orm.stock_levels).values(safety_stock=3))

    await inventory.ship_replacement(uuid4(), uuid4(), ("A", 1))

    [(_, sku, alert)] = await inventory.sent("LowStockDetected")
    assert (sku, alert["warehouse"], alert["available"], alert["safety_stock"]) == (
        "A",
        "east",
        2,
        3,
    )


async def test_a_replacement_short_of_available_stock_is_refused_and_takes_nothing(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    await inventory.stock("B", west=1)
    held = uuid4()
    await inventory.reserve(held, ("A", 2))  # an order's own hold is never taken
    replacement = uuid4()

    await inventory.ship_replacement(held, replacement, ("A", 2), ("B", 1))

    [(kind, refused)] = await answers(inventory)
    assert (kind, refused["order_id"], refused["replacement_id"]) == (
        "ReplacementRefused",
        str(held),
        str(replacement),
    )
    assert (refused["reason"], refused["short_skus"]) == (
        "insufficient stock: A is short by 1",
        ["A"],
    )
    assert await inventory.levels("A") == {"east": (3, 2)}
    assert await inventory.levels("B") == {"west": (1, 0)}
    assert await movements(inventory, replacement) == []
    assert await inventory.reservations(held) == [("A", "east", 2, "reserved")]


async def test_a_replacement_for_a_customer_erased_is_refused_and_keeps_no_address(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    await erase(inventory)
    replacement = uuid4()

    await inventory.ship_replacement(uuid4(), replacement, ("A", 1))

    [(kind, refused)] = await answers(inventory)
    assert (kind, refused["reason"], refused["short_skus"]) == (
        "ReplacementRefused",
        ADDRESS_ERASED,
        [],
    )
    assert await inventory.levels("A") == {"east": (3, 0)}
    row = await inventory.replacement(replacement)
    assert row is not None
    assert (row["customer_id"], row["ship_to_sealed"], row["ship_to"]) == (None, None, None)


async def test_a_replacement_the_carrier_refuses_at_once_moves_no_stock(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    replacement = uuid4()

    await inventory.ship_replacement(uuid4(), replacement, ("A", 1), ship_to=REFUSED)

    [(kind, refused)] = await answers(inventory)
    assert (kind, refused["reason"]) == (
        "ReplacementRefused",
        "SimPost does not deliver to postal code 00000",
    )
    assert await movements(inventory, replacement) == []
    assert await inventory.levels("A") == {"east": (3, 0)}


async def test_a_re_sent_replacement_is_answered_the_same_and_takes_no_stock_again(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=5)
    order = uuid4()
    shipped, short = uuid4(), uuid4()

    for _ in range(2):
        await inventory.ship_replacement(order, shipped, ("A", 2))
        await inventory.ship_replacement(order, short, ("A", 9))

    (k1, first), (k2, refused), (k3, again), (k4, refused_again) = await answers(inventory)
    assert (k1, k2, k3, k4) == ("ReplacementShipped", "ReplacementRefused") * 2
    assert again == first
    assert refused_again == refused
    assert await inventory.levels("A") == {"east": (3, 0)}
    assert len(await movements(inventory, shipped)) == 2
    async with inventory.service.database.sessions() as s:
        c = orm.sim_carrier_updates.c
        booked = await s.execute(select(c.tracking_number).distinct())
    assert [n for (n,) in booked] == [first["parcels"][0]["tracking_number"]]


async def test_a_replacement_id_names_one_replacement_of_one_order(inventory: Inventory) -> None:
    await inventory.stock("A", east=5)
    replacement = uuid4()
    await inventory.ship_replacement(uuid4(), replacement, ("A", 1))

    with pytest.raises(ConflictError, match=f"replacement {replacement} is of order"):
        await inventory.ship_replacement(uuid4(), replacement, ("A", 1))

    assert len(await answers(inventory)) == 1
    assert await inventory.levels("A") == {"east": (4, 0)}


async def test_with_a_pick_delay_it_is_held_while_picked_and_the_job_ships_it_when_due(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    order, replacement = uuid4(), uuid4()
    command = Envelope(type="ShipReplacement", source="/test/order", subject=str(order))
    await inventory.ship_replacement(
        order, replacement, ("A", 2), pick_delay=PICKING, cause=command
    )
    await inventory.ship_replacement(order, replacement, ("A", 2), pick_delay=PICKING)  # re-sent

    picking = (await answers(inventory), await inventory.levels("A"))
    early = await inventory.hand_over_replacements(after=PICKING / 2)
    handed = await inventory.hand_over_replacements(after=DONE)
    again = await inventory.hand_over_replacements(after=DONE)

    assert picking == ([], {"east": (3, 2)})  # held, unanswered while picked
    assert (early, handed, again) == (0, 1, 0)
    [(kind, _)] = await answers(inventory)
    assert kind == "ReplacementShipped"
    assert await inventory.levels("A") == {"east": (1, 0)}
    assert [m[2] for m in await movements(inventory, replacement)] == ["reservation", "shipment"]
    async with inventory.service.database.sessions() as s:
        o = orm.outbox.c
        headers = (
            await s.execute(select(o.headers).where(o.message_type == "ReplacementShipped"))
        ).scalar_one()
    assert headers["ce_causationid"] == command.id  # the hand-over answers the command
    await inventory.ship_replacement(order, replacement, ("A", 2), pick_delay=PICKING)
    assert [k for k, _ in await answers(inventory)] == ["ReplacementShipped"] * 2


async def test_a_replacement_the_carrier_refuses_after_picking_gives_its_stock_back(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    replacement = uuid4()
    await inventory.ship_replacement(
        uuid4(), replacement, ("A", 2), ship_to=REFUSED, pick_delay=PICKING
    )

    await inventory.hand_over_replacements(after=DONE)

    [(kind, refused)] = await answers(inventory)
    assert (kind, refused["reason"]) == (
        "ReplacementRefused",
        "SimPost does not deliver to postal code 00000",
    )
    assert await inventory.levels("A") == {"east": (3, 0)}
    assert [m[2] for m in await movements(inventory, replacement)] == ["reservation", "release"]


async def test_a_customer_erased_while_the_replacement_is_picked_is_refused_it(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=3)
    replacement = uuid4()
    await inventory.ship_replacement(uuid4(), replacement, ("A", 2), pick_delay=PICKING)

    await erase(inventory)
    await inventory.hand_over_replacements(after=DONE)

    [(kind, refused)] = await answers(inventory)
    assert (kind, refused["reason"]) == ("ReplacementRefused", ADDRESS_ERASED)
    assert await inventory.levels("A") == {"east": (3, 0)}


async def test_an_exchanges_goods_tracked_to_the_door_deliver_the_replacement_not_the_order(
    inventory: Inventory, webhook: str
) -> None:
    await inventory.stock("A", east=5)
    order = await shipped_order(inventory, ("A", 1))
    await inventory.send_tracking(webhook, after=ALL_DUE)  # the order was delivered
    before = len(await inventory.published())
    replacement = uuid4()
    await inventory.ship_replacement(order, replacement, ("A", 1))
    [(_, shipped)] = await answers(inventory)
    [parcel] = shipped["parcels"]

    await inventory.send_tracking(webhook, after=ALL_DUE)

    after = (await inventory.published())[before + 1 :]
    assert [(k, b.get("status"), b.get("shipment_id")) for k, b in after] == [
        ("ShipmentTracked", "in_transit", parcel["shipment_id"]),
        ("ShipmentTracked", "out_for_delivery", parcel["shipment_id"]),
        ("ShipmentTracked", "delivered", parcel["shipment_id"]),
        ("ReplacementDelivered", None, None),
    ]
    delivered = after[-1][1]
    assert delivered["replacement_id"] == str(replacement)
    assert delivered["delivered_at"] == after[-2][1]["occurred_at"]
    assert (await inventory.replacement(replacement) or {})["status"] == "delivered"


async def test_a_reshipped_parcel_lost_in_transit_fails_the_replacement_not_the_order(
    inventory: Inventory, webhook: str
) -> None:
    await inventory.stock("A", east=5)
    order = await shipped_order(inventory, ("A", 1))
    await inventory.send_tracking(webhook, after=ALL_DUE)
    replacement = uuid4()
    await inventory.ship_replacement(order, replacement, ("A", 1), ship_to=UNDELIVERABLE)
    [(_, shipped)] = await answers(inventory)
    number = shipped["parcels"][0]["tracking_number"]

    await inventory.send_tracking(webhook, after=ALL_DUE)

    endings = [(k, b) for k, _, b in await inventory.sent(*ENDINGS)]
    assert [k for k, _ in endings] == ["ShipmentDelivered", "ReplacementFailed"]  # the order's
    failed = endings[-1][1]
    assert failed["replacement_id"] == str(replacement)
    assert failed["reason"] == (
        f"parcel {number} from warehouse east failed in transit with SimPost: no such address:"
        " SimPost cannot deliver to postal code 00001"
    )
    tracked = [b["status"] for _, _, b in await inventory.sent("ShipmentTracked")]
    assert tracked[-1] == "failed"
    assert (await inventory.replacement(replacement) or {})["status"] == "failed"


async def test_the_carrier_loses_an_orders_own_parcel_to_00002_and_delivers_its_replacement(
    inventory: Inventory, webhook: str
) -> None:
    lost_once = UNDELIVERABLE.model_copy(update={"postal_code": "00002"})
    await inventory.stock("A", east=5)
    order = uuid4()
    await inventory.reserve(order, ("A", 1))
    await inventory.ship(order, ship_to=lost_once)
    await inventory.send_tracking(webhook, after=ALL_DUE)
    replacement = uuid4()
    await inventory.ship_replacement(order, replacement, ("A", 1), ship_to=lost_once)

    await inventory.send_tracking(webhook, after=ALL_DUE)

    endings = [k for k, _, _ in await inventory.sent(*ENDINGS)]
    assert endings == ["ShipmentFailed", "ReplacementDelivered"]


async def test_staff_see_an_orders_replacements_newest_first_paged_and_never_the_address(
    inventory: Inventory, client: httpx.AsyncClient, webhook: str
) -> None:
    await inventory.stock("A", east=5)
    order = await shipped_order(inventory, ("A", 1))
    first, second = uuid4(), uuid4()
    await inventory.ship_replacement(order, first, ("A", 1))
    await inventory.ship_replacement(order, second, ("A", 9))  # refused: short
    await inventory.send_tracking(webhook, after=timedelta(seconds=2))  # in transit

    page = (await client.get(f"/orders/{order}/replacements", params={"limit": 1})).json()
    rest = (
        await client.get(
            f"/orders/{order}/replacements", params={"limit": 1, "cursor": page["next"]}
        )
    ).json()
    none = (await client.get(f"/orders/{uuid4()}/replacements")).json()

    [newest], [oldest] = page["items"], rest["items"]
    assert (newest["replacement_id"], newest["status"], newest["parcels"]) == (
        str(second),
        "refused",
        [],
    )
    assert (newest["refusal"], newest["short_skus"]) == (
        "insufficient stock: A is short by 6",
        ["A"],
    )
    assert (oldest["replacement_id"], oldest["status"], oldest["refusal"]) == (
        str(first),
        "shipped",
        None,
    )
    assert oldest["reason"] == "claim CLM-0000001: parcel lost in transit"
    assert oldest["lines"] == [{"sku": "A", "quantity": 1}]
    [parcel] = oldest["parcels"]
    assert (parcel["status"], parcel["lines"]) == ("in_transit", [{"sku": "A", "quantity": 1}])
    assert [t["status"] for t in parcel["tracking"]] == ["in_transit"]
    assert rest["next"] is None
    assert none == {"items": [], "next": None}
    assert ADA.line1 not in str(page) + str(rest)


async def test_a_cursor_not_of_this_list_is_refused_naming_it(client: httpx.AsyncClient) -> None:
    answer = await client.get(f"/orders/{uuid4()}/replacements", params={"cursor": "nope"})

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "cursor"]
