"""The simulated carrier: tracking numbers derived per parcel (an order's or a replacement's,
and per return), its schedules, "00000" refused."""

from __future__ import annotations

import re
from datetime import timedelta
from uuid import uuid4

import pytest

from orderly_inventory.adapters.carrier import (
    Carrier,
    CarrierRefusedError,
    ReturnSchedule,
    SimulatedCarrier,
    TrackingSchedule,
    replacement_tracking_number,
    return_tracking_number,
    tracking_number,
)
from orderly_inventory.domain.shipments import ShipmentStatus
from orderly_kit.db import Database
from orderly_schemas.checkout import Address

ADDRESS = Address(name="A", line1="1 Main St", city="Town", postal_code="1000", country="NL")
#: Never connected: these tests stop before the carrier records anything.
NOWHERE = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_a_parcel_has_a_simpost_tracking_number_derived_from_order_and_warehouse() -> None:
    order = uuid4()

    east = tracking_number("SimPost", order, "east")

    assert re.fullmatch(r"SP[0-9A-F]{12}", east)
    assert tracking_number("SimPost", order, "east") == east  # a retried booking
    assert tracking_number("SimPost", order, "west") != east


def test_a_replacements_parcel_has_a_tracking_number_of_its_own() -> None:
    order, replacement = uuid4(), uuid4()

    east = replacement_tracking_number("SimPost", replacement, "east")

    assert re.fullmatch(r"SP[0-9A-F]{12}", east)
    assert replacement_tracking_number("SimPost", replacement, "east") == east  # a retry
    assert east not in (
        tracking_number("SimPost", order, "east"),  # not the order's own parcel's
        tracking_number("SimPost", replacement, "east"),
        replacement_tracking_number("SimPost", replacement, "west"),
        replacement_tracking_number("SimPost", uuid4(), "east"),
    )


async def test_a_replacement_to_postal_code_00000_is_refused_like_any_parcel() -> None:
    carrier: Carrier = SimulatedCarrier(NOWHERE, "SimPost")
    nowhere = ADDRESS.model_copy(update={"postal_code": "00000"})

    with pytest.raises(CarrierRefusedError, match="does not deliver to postal code 00000"):
        await carrier.book_replacement(
            order_id=uuid4(), replacement_id=uuid4(), warehouse="east", ship_to=nowhere, lines=[]
        )


def test_tracking_numbers_differ_between_orders() -> None:
    numbers = {tracking_number("SimPost", uuid4(), "east") for _ in range(1000)}

    assert len(numbers) == 1000


async def test_a_booking_to_postal_code_00000_is_refused_with_a_reason() -> None:
    carrier: Carrier = SimulatedCarrier(NOWHERE, "SimPost")
    nowhere = ADDRESS.model_copy(update={"postal_code": "00000"})

    with pytest.raises(CarrierRefusedError) as refused:
        await carrier.book(order_id=uuid4(), warehouse="east", ship_to=nowhere, lines=[])

    assert refused.value.reason == "SimPost does not deliver to postal code 00000"


def test_no_update_is_scheduled_after_the_delivery() -> None:
    schedule = TrackingSchedule(
        in_transit_after=timedelta(seconds=1),
        out_for_delivery_after=timedelta(seconds=3),
        delivered_after=timedelta(seconds=2),
    )

    assert schedule.offsets() == [
        (ShipmentStatus.IN_TRANSIT, timedelta(seconds=1)),
        (ShipmentStatus.OUT_FOR_DELIVERY, timedelta(seconds=2)),
        (ShipmentStatus.DELIVERED, timedelta(seconds=2)),
    ]


def test_its_webhook_body_is_read_as_a_tracking_update() -> None:
    carrier = SimulatedCarrier(NOWHERE)
    order = uuid4()
    body = (
        b'{"delivery_id": "6f1c0d5e-3f47-4b7b-9a51-0c8d2e0b9a10", "tracking_number": "SP1",'
        b' "reference": "' + str(order).encode() + b'", "status": "out_for_delivery",'
        b' "occurred_at": "2026-12-01T10:00:00Z", "detail": "with the driver"}'
    )

    update = carrier.read_tracking(body)

    assert (update.tracking_number, update.status, update.order_id, update.detail) == (
        "SP1",
        ShipmentStatus.OUT_FOR_DELIVERY,
        order,
        "with the driver",
    )
    assert update.delivery_id == "6f1c0d5e-3f47-4b7b-9a51-0c8d2e0b9a10"


def test_a_return_parcel_has_its_own_simpost_number_derived_from_the_return() -> None:
    return_id = uuid4()

    number = return_tracking_number("SimPost", return_id)

    assert re.fullmatch(r"SR[0-9A-F]{12}", number)
    assert return_tracking_number("SimPost", return_id) == number  # a retried booking
    assert return_tracking_number("SimPost", uuid4()) != number


async def test_a_return_collected_from_postal_code_00000_is_refused_with_a_reason() -> None:
    carrier: Carrier = SimulatedCarrier(NOWHERE, "SimPost")
    nowhere = ADDRESS.model_copy(update={"postal_code": "00000"})

    with pytest.raises(CarrierRefusedError) as refused:
        await carrier.book_return(
            order_id=uuid4(), return_id=uuid4(), warehouse="east", collect_from=nowhere, lines=[]
        )

    assert refused.value.reason == "SimPost does not collect returns from this postal code"


def test_a_return_parcel_is_reported_in_transit_then_delivered() -> None:
    schedule = ReturnSchedule(
        in_transit_after=timedelta(seconds=9), delivered_after=timedelta(seconds=4)
    )

    assert schedule.offsets() == [
        (ShipmentStatus.IN_TRANSIT, timedelta(seconds=4)),
        (ShipmentStatus.DELIVERED, timedelta(seconds=4)),
    ]
