"""The simulated carrier: SimPost tracking numbers, unique enough to be a key; "00000" refused."""

from __future__ import annotations

import re
from uuid import uuid4

import pytest

from orderly_inventory.adapters.carrier import Carrier, CarrierRefusedError, SimulatedCarrier
from orderly_schemas.checkout import Address

ADDRESS = Address(name="A", line1="1 Main St", city="Town", postal_code="1000", country="NL")


async def test_a_booking_gives_a_simpost_tracking_number() -> None:
    carrier: Carrier = SimulatedCarrier()

    consignment = await carrier.book(order_id=uuid4(), ship_to=ADDRESS, parcels=1)

    assert consignment.carrier == "SimPost"
    assert re.fullmatch(r"SP[0-9A-F]{12}", consignment.tracking_number)


async def test_tracking_numbers_differ_between_bookings() -> None:
    carrier = SimulatedCarrier("SimPost Express")

    numbers = {
        (await carrier.book(order_id=uuid4(), ship_to=ADDRESS, parcels=2)).tracking_number
        for _ in range(1000)
    }

    assert len(numbers) == 1000


async def test_a_booking_to_postal_code_00000_is_refused_with_a_reason() -> None:
    carrier = SimulatedCarrier("SimPost")
    nowhere = ADDRESS.model_copy(update={"postal_code": "00000"})

    with pytest.raises(CarrierRefusedError) as refused:
        await carrier.book(order_id=uuid4(), ship_to=nowhere, parcels=1)

    assert refused.value.reason == "SimPost does not deliver to postal code 00000"
