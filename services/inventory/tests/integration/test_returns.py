"""Return parcels: the carrier collects a return from where the order was shipped and brings
it to the warehouse that shipped it; the dock restocks it there.

What the return saga does: send BookReturnParcel once a return is approved and wait for
ReturnParcelBooked (or ReturnParcelRefused); the saga may re-send it. The goods are then
inspected at ``POST /returns/{return_id}/restock``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import httpx
from sqlalchemy import delete, select

from orderly_inventory.adapters import orm
from orderly_inventory.adapters.carrier import Consignment, SimulatedCarrier
from orderly_inventory.domain.returns import ADDRESS_ERASED, NEVER_SHIPPED, NO_ADDRESS_KEPT
from orderly_inventory.domain.shipments import ParcelLine
from orderly_kit.customers import forget_customer
from orderly_schemas.checkout import Address
from orderly_schemas.personal import CustomerErased

if TYPE_CHECKING:  # fixtures' types; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory

ADA = Address(
    name="Ada Lovelace", line1="1 Market Street", city="London", postal_code="N1 9GU", country="GB"
)
NO_COLLECTION = Address(
    name="Ada Lovelace", line1="1 Nowhere Lane", city="Void", postal_code="00000", country="GB"
)
ANSWERS = ("ReturnParcelBooked", "ReturnParcelRefused")


class RecordingCarrier(SimulatedCarrier):
    """The simulated carrier, keeping where each return was collected from; it delivers
    anywhere (even to 00000, which it will not collect from)."""

    collected_from: list[Address]

    async def book(
        self, *, order_id: UUID, warehouse: str, ship_to: Address, lines: Sequence[ParcelLine]
    ) -> Consignment:
        return await super().book(order_id=order_id, warehouse=warehouse, ship_to=ADA, lines=lines)

    async def book_return(
        self,
        *,
        order_id: UUID,
        return_id: UUID,
        warehouse: str,
        collect_from: Address,
        lines: Sequence[ParcelLine],
    ) -> Consignment:
        self.collected_from.append(collect_from)
        return await super().book_return(
            order_id=order_id,
            return_id=return_id,
            warehouse=warehouse,
            collect_from=collect_from,
            lines=lines,
        )


def recording(inventory: Inventory) -> RecordingCarrier:
    carrier = RecordingCarrier(inventory.service.database, clock=inventory.clock)
    carrier.collected_from = []
    inventory.carrier = carrier
    return carrier


async def shipped_order(
    inventory: Inventory, *lines: tuple[str, int], ship_to: Address = ADA, **stock: int
) -> UUID:
    """An order of ``lines`` shipped to ``ship_to``, from ``stock`` (warehouse → units of
    each SKU)."""
    for sku, _ in lines:
        await inventory.stock(sku, **stock)
    order = uuid4()
    await inventory.reserve(order, *lines)
    await inventory.ship(order, ship_to=ship_to)
    return order


async def scheduled_updates(inventory: Inventory, tracking_number: str) -> list[str]:
    c = orm.sim_carrier_updates.c
    query = select(c.status).where(c.tracking_number == tracking_number).order_by(c.id)
    async with inventory.service.database.sessions() as s:
        return list((await s.execute(query)).scalars())


async def test_a_return_is_booked_once_and_answered_again_when_the_saga_asks_again(
    inventory: Inventory,
) -> None:
    carrier = recording(inventory)
    order = await shipped_order(inventory, ("A", 2), east=5)
    return_id = uuid4()

    await inventory.book_return(order, return_id, ("A", 1))
    await inventory.book_return(order, return_id, ("A", 1))  # re-sent

    first, again = await inventory.sent(*ANSWERS)
    assert first == again
    kind, key, booked = first
    assert (kind, key) == ("ReturnParcelBooked", str(order))
    assert (booked["return_id"], booked["warehouse"], booked["carrier"]) == (
        str(return_id),
        "east",
        "SimPost",
    )
    number = booked["tracking_number"]
    assert number.startswith("SR")
    assert carrier.collected_from == [ADA]  # one booking, from where the order went
    assert await scheduled_updates(inventory, number) == ["in_transit", "delivered"]
    row = await inventory.return_parcel(return_id)
    assert row is not None
    assert (row["order_id"], row["status"], row["warehouse"], row["tracking_number"]) == (
        order,
        "booked",
        "east",
        number,
    )
    assert row["lines"] == [{"sku": "A", "quantity": 1}]
    assert await inventory.levels("A") == {"east": (3, 0)}  # nothing moves until restocked


async def test_a_split_order_returns_to_the_warehouse_that_shipped_most_of_the_return(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=1)
    await inventory.stock("B", west=2)
    await inventory.stock("C", west=2)
    order = uuid4()
    await inventory.reserve(order, ("A", 1), ("B", 1), ("C", 1))
    await inventory.ship(order)
    assert {r["warehouse"] for r in await inventory.shipments(order)} == {"east", "west"}
    return_id = uuid4()

    await inventory.book_return(order, return_id, ("A", 1), ("B", 1), ("C", 1))

    [(_, _, booked)] = await inventory.sent("ReturnParcelBooked")
    assert booked["warehouse"] == "west"


async def test_an_order_this_service_never_shipped_is_refused_and_nothing_is_booked(
    inventory: Inventory,
) -> None:
    carrier = recording(inventory)
    await inventory.stock("A", east=5)
    reserved_only = uuid4()
    await inventory.reserve(reserved_only, ("A", 1))
    return_id = uuid4()

    await inventory.book_return(reserved_only, return_id, ("A", 1))
    await inventory.book_return(reserved_only, return_id, ("A", 1))

    answers = await inventory.sent(*ANSWERS)
    assert [(kind, body["reason"]) for kind, _, body in answers] == [
        ("ReturnParcelRefused", NEVER_SHIPPED)
    ] * 2
    assert carrier.collected_from == []
    row = await inventory.return_parcel(return_id)
    assert row is not None
    assert (row["status"], row["tracking_number"], row["warehouse"]) == ("refused", None, None)


async def test_after_the_customer_is_erased_a_return_has_no_address_and_is_refused(
    inventory: Inventory,
) -> None:
    carrier = recording(inventory)
    order = await shipped_order(inventory, ("A", 1), east=5)
    async with inventory.service.messaging.unit_of_work() as uow:
        await forget_customer(
            uow, CustomerErased(customer_id="C-ADA", occurred_at=datetime.now(UTC))
        )

    await inventory.book_return(order, uuid4(), ("A", 1))

    [(kind, _, refused)] = await inventory.sent(*ANSWERS)
    assert (kind, refused["reason"]) == ("ReturnParcelRefused", ADDRESS_ERASED)
    assert carrier.collected_from == []


async def test_an_order_shipped_before_addresses_were_kept_is_refused_for_support(
    inventory: Inventory,
) -> None:
    order = await shipped_order(inventory, ("A", 1), east=5)
    async with inventory.service.database.transaction() as s:
        await s.execute(delete(orm.pickings).where(orm.pickings.c.order_id == order))

    await inventory.book_return(order, uuid4(), ("A", 1))

    [(_, _, refused)] = await inventory.sent("ReturnParcelRefused")
    assert refused["reason"] == NO_ADDRESS_KEPT


async def test_a_return_the_carrier_will_not_collect_is_refused_with_its_reason_once(
    inventory: Inventory,
) -> None:
    carrier = recording(inventory)
    order = await shipped_order(inventory, ("A", 1), ship_to=NO_COLLECTION, east=5)
    return_id = uuid4()

    await inventory.book_return(order, return_id, ("A", 1))
    await inventory.book_return(order, return_id, ("A", 1))

    answers = await inventory.sent(*ANSWERS)
    reason = "SimPost does not collect returns from this postal code"
    assert [(kind, body["reason"]) for kind, _, body in answers] == [
        ("ReturnParcelRefused", reason)
    ] * 2
    assert carrier.collected_from == [NO_COLLECTION]  # asked once; the refusal is kept


async def test_a_picked_order_is_collected_from_the_address_its_picking_kept(
    inventory: Inventory,
) -> None:
    carrier = recording(inventory)
    await inventory.stock("A", east=5)
    order = uuid4()
    await inventory.reserve(order, ("A", 1))
    await inventory.ship(order, pick_delay=timedelta(minutes=10))
    await inventory.hand_over(after=timedelta(minutes=11))

    await inventory.book_return(order, uuid4(), ("A", 1))

    assert [kind for kind, *_ in await inventory.sent(*ANSWERS)] == ["ReturnParcelBooked"]
    assert carrier.collected_from == [ADA]


# -- at the dock, and for support ----------------------------------------------------------------
def restock(order: UUID, warehouse: str, **changes: Any) -> dict[str, Any]:
    return {
        "order_id": str(order),
        "warehouse": warehouse,
        "lines": [{"sku": "A", "quantity": 1, "condition": "resellable"}],
    } | changes


async def test_a_return_in_a_parcel_is_restocked_only_at_the_parcels_warehouse_and_received(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    order = await shipped_order(inventory, ("A", 1), west=5)
    return_id = uuid4()
    await inventory.book_return(order, return_id, ("A", 1))
    url = f"/returns/{return_id}/restock"

    elsewhere = await client.post(url, json=restock(order, "east"))
    other_order = await client.post(url, json=restock(uuid4(), "west"))
    here = await client.post(
        url,
        json=restock(
            order,
            "west",
            lines=[  # more than announced: what arrived is restocked
                {"sku": "A", "quantity": 1, "condition": "resellable"},
                {"sku": "A", "quantity": 1, "condition": "damaged"},
            ],
        ),
    )

    assert elsewhere.status_code == 422
    [problem] = elsewhere.json()["detail"]
    assert problem["loc"] == ["body", "warehouse"]
    assert problem["msg"].endswith("goes to warehouse 'west': restock it there")
    assert other_order.status_code == 422
    assert other_order.json()["detail"][0]["loc"] == ["body", "order_id"]
    assert here.status_code == 201
    assert await inventory.levels("A") == {"west": (5, 0)}
    row = await inventory.return_parcel(return_id)
    assert row is not None
    assert row["status"] == "received"
    assert [kind for kind, *_ in await inventory.sent("ReturnRestocked")] == ["ReturnRestocked"]


async def test_support_sees_a_return_parcel_without_any_address(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    order = await shipped_order(inventory, ("A", 2), east=5)
    return_id, refused_id = uuid4(), uuid4()
    await inventory.book_return(order, return_id, ("A", 2))
    await inventory.book_return(uuid4(), refused_id, ("A", 1))

    found = await client.get(f"/returns/{return_id}/parcel")
    refused = await client.get(f"/returns/{refused_id}/parcel")
    unknown = await client.get(f"/returns/{uuid4()}/parcel")

    assert found.status_code == 200
    parcel = found.json()
    [(_, _, booked)] = await inventory.sent("ReturnParcelBooked")
    assert parcel["return_id"] == str(return_id)
    assert parcel["order_id"] == str(order)
    assert (parcel["warehouse"], parcel["carrier"], parcel["tracking_number"]) == (
        "east",
        "SimPost",
        booked["tracking_number"],
    )
    assert (parcel["status"], parcel["lines"]) == ("booked", [{"sku": "A", "quantity": 2}])
    assert datetime.fromisoformat(parcel["booked_at"]) == datetime.fromisoformat(
        booked["occurred_at"]
    )
    assert not any(part in found.text for part in (ADA.name, ADA.line1, ADA.postal_code))
    assert refused.status_code == 404
    assert refused.json()["detail"] == (
        f"no parcel was booked for return {refused_id}: it was refused ({NEVER_SHIPPED})"
    )
    assert unknown.status_code == 404
