"""Ship-to addresses are personal data: a picking keeps the address its ShipOrder carried
sealed under this service's own key for the customer, the hand-over opens it for the
carrier, and once the customer is erased (CustomerErased) it opens nowhere here.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from orderly_inventory import use_cases
from orderly_inventory.adapters import orm
from orderly_inventory.adapters.carrier import Consignment, SimulatedCarrier
from orderly_inventory.adapters.shipments import ShipmentRepository
from orderly_inventory.bootstrap import build
from orderly_inventory.domain.shipments import ADDRESS_ERASED, ParcelLine
from orderly_inventory.settings import InventorySettings
from orderly_kit import audit, cli
from orderly_kit.customers import forget_customer
from orderly_kit.personal_data import PersonalDataError, Vault
from orderly_schemas.checkout import Address
from orderly_schemas.inventory import ShipOrder
from orderly_schemas.personal import CustomerErased

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory

PICKING = timedelta(minutes=10)
DONE = PICKING + timedelta(seconds=1)
MARKED = Address(
    name="Marked Customerson",
    line1="17 Hidden Lane",
    city="Leeds",
    postal_code="LS1 4AP",
    country="GB",
)


class RecordingCarrier(SimulatedCarrier):
    """The simulated carrier, keeping the address each booking was given."""

    booked_to: list[Address]

    async def book(
        self, *, order_id: UUID, warehouse: str, ship_to: Address, lines: Sequence[ParcelLine]
    ) -> Consignment:
        self.booked_to.append(ship_to)
        return await super().book(
            order_id=order_id, warehouse=warehouse, ship_to=ship_to, lines=lines
        )


def recording(inventory: Inventory) -> RecordingCarrier:
    carrier = RecordingCarrier(inventory.service.database, clock=inventory.clock)
    carrier.booked_to = []
    inventory.carrier = carrier
    return carrier


async def picking_row(inventory: Inventory, order_id: UUID) -> dict[str, object]:
    async with inventory.service.database.sessions() as s:
        row = (
            await s.execute(select(orm.pickings).where(orm.pickings.c.order_id == order_id))
        ).mappings()
        return dict(row.one())


async def picking_for_marked(inventory: Inventory) -> UUID:
    """An order reserved and being picked for the marked address; its id."""
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 1), ship_to=MARKED)
    await inventory.ship(order, ship_to=MARKED, pick_delay=PICKING)
    return order


async def test_a_picking_keeps_the_address_sealed_and_the_carrier_gets_it_opened(
    inventory: Inventory,
) -> None:
    carrier = recording(inventory)

    order = await picking_for_marked(inventory)
    row = await picking_row(inventory, order)
    handed_over = await inventory.hand_over(after=DONE)

    assert (row["ship_to"], row["customer_id"]) == (None, "C-ADA")
    sealed = row["ship_to_sealed"]
    assert isinstance(sealed, bytes)
    assert not any(part.encode() in sealed for part in (MARKED.name, MARKED.line1))
    assert handed_over == 1
    assert carrier.booked_to == [MARKED]
    assert await inventory.kinds() == ["StockReserved", "OrderShipped"]


async def test_after_erasure_a_picking_has_no_address_and_its_shipment_fails(
    inventory: Inventory,
) -> None:
    carrier = recording(inventory)
    order = await picking_for_marked(inventory)

    async with inventory.service.messaging.unit_of_work() as uow:
        erased = CustomerErased(customer_id="C-ADA", occurred_at=datetime.now(UTC))
        assert await forget_customer(uow, erased) is True
    await inventory.hand_over(after=DONE)

    assert carrier.booked_to == []
    assert await inventory.picking(order) == ("failed", ADDRESS_ERASED)
    [(_, _, failed)] = await inventory.sent("ShipmentFailed")
    assert failed["reason"] == ADDRESS_ERASED
    # A ShipOrder that comes after the erasure keeps nothing of the customer either.
    later = uuid4()
    await inventory.reserve(later, ("A", 1))
    await inventory.ship(later, ship_to=MARKED)
    assert carrier.booked_to == []
    assert [body["order_id"] for _, _, body in await inventory.sent("ShipmentFailed")] == [
        str(order),
        str(later),
    ]


async def test_an_address_sealed_under_a_key_the_service_does_not_hold_is_refused(
    inventory: Inventory,
) -> None:
    other = Vault(
        table=orm.customer_keys,
        keys={"elsewhere": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
        active="elsewhere",
        lookup_key="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    )
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 1))
    command = ShipOrder(
        order_id=order,
        personal=other.sealed_data(
            bytes(32), "C-ADA", {"shipping_address": MARKED.model_dump_json()}
        ),
    )

    with pytest.raises(PersonalDataError, match="key 'elsewhere'"):
        async with inventory.service.messaging.unit_of_work() as uow:
            await use_cases.fulfilment.ship_order(uow, command, carrier=inventory.carrier)


async def test_rotating_the_key_encryption_key_rewraps_the_kept_keys_audited(
    inventory: Inventory,
) -> None:
    order = await picking_for_marked(inventory)
    settings = inventory.service.settings
    assert isinstance(settings, InventorySettings)
    new_key = SecretStr(base64.b64encode(os.urandom(32)).decode())
    rotating = build(
        settings.model_copy(
            update={"data_keys": {"k2": new_key, **settings.data_keys}, "data_key_id": "k2"}
        )
    )

    assert await cli.customers(rotating, ["rotate-keys", "--operator", "ops"]) == 0

    # Only the new key is needed now: the picking's address still opens with it alone.
    retired = build(settings.model_copy(update={"data_keys": {"k2": new_key}, "data_key_id": "k2"}))
    async with retired.database.sessions() as session:
        picking = await ShipmentRepository(session, vault=retired.messaging.vault).picking_of(order)
        log = audit.table_in(retired.metadata)
        rotations = (await session.execute(select(log.c.action, log.c.actor, log.c.after))).all()
    await retired.database.dispose()
    assert picking is not None
    assert picking.ship_to == MARKED
    assert [tuple(r) for r in rotations] == [("data_key.rotate", "ops", {"rewrapped": 1})]
