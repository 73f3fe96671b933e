"""Parcels: one per warehouse; tracking only moves a parcel forward; what each step announces."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from orderly_inventory.domain.reservations import Reservation, ReservationStatus
from orderly_inventory.domain.shipments import (
    NO_RESERVED_STOCK,
    RELEASED_WHILE_PICKING,
    ParcelLine,
    Picking,
    PickingStatus,
    PlannedParcel,
    Shipment,
    ShipmentFailure,
    ShipmentStatus,
    TrackingUpdate,
    advances,
    delivery_notice,
    overall_status,
    plan_parcels,
    shipment_plan,
    shipping_notice,
    tracking_report,
)
from orderly_schemas.base import StockLine
from orderly_schemas.checkout import Address
from orderly_schemas.inventory import (
    OrderShipped,
    Parcel,
    ShipmentDelivered,
    ShipmentFailed,
    ShipmentTracked,
)

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
S = ShipmentStatus


def held(sku: str, warehouse: str, quantity: int) -> Reservation:
    return Reservation(sku, warehouse, quantity, ReservationStatus.RESERVED)


def parcel(status: ShipmentStatus) -> Shipment:
    return Shipment(
        shipment_id=uuid4(),
        order_id=uuid4(),
        warehouse="east",
        carrier="SimPost",
        tracking_number="SP1",
        status=status,
        shipped_at=NOW,
    )


def report(status: ShipmentStatus) -> TrackingUpdate:
    return TrackingUpdate(
        delivery_id=str(uuid4()), tracking_number="SP1", status=status, occurred_at=NOW
    )


def test_an_order_is_planned_as_one_parcel_per_warehouse_with_its_lines() -> None:
    planned = plan_parcels([held("B", "west", 1), held("A", "west", 2), held("A", "east", 3)])

    assert planned == [
        PlannedParcel("east", [ParcelLine("A", 3)]),
        PlannedParcel("west", [ParcelLine("A", 2), ParcelLine("B", 1)]),
    ]


@pytest.mark.parametrize(
    ("current", "reported", "moves"),
    [
        (S.SHIPPED, S.IN_TRANSIT, True),
        (S.SHIPPED, S.DELIVERED, True),  # a carrier may skip steps
        (S.IN_TRANSIT, S.OUT_FOR_DELIVERY, True),
        (S.OUT_FOR_DELIVERY, S.FAILED, True),
        (S.IN_TRANSIT, S.IN_TRANSIT, False),  # repeated
        (S.OUT_FOR_DELIVERY, S.IN_TRANSIT, False),  # late
        (S.DELIVERED, S.IN_TRANSIT, False),
        (S.DELIVERED, S.FAILED, False),
        (S.FAILED, S.DELIVERED, False),
    ],
)
def test_a_report_only_ever_moves_a_parcel_forward(
    current: ShipmentStatus, reported: ShipmentStatus, moves: bool
) -> None:
    assert advances(parcel(current), report(reported)) is moves


def test_an_order_is_as_far_as_its_least_advanced_parcel_unless_one_failed() -> None:
    assert overall_status([parcel(S.DELIVERED), parcel(S.IN_TRANSIT)]) is S.IN_TRANSIT
    assert overall_status([parcel(S.DELIVERED), parcel(S.DELIVERED)]) is S.DELIVERED
    assert overall_status([parcel(S.DELIVERED), parcel(S.FAILED)]) is S.FAILED


ORDER = UUID("00000000-0000-0000-0000-0000000000d4")


def test_an_order_holding_no_stock_is_answered_that_nothing_can_ship() -> None:
    assert shipment_plan(ORDER, [], at=NOW) == ShipmentFailed(
        order_id=ORDER, occurred_at=NOW, reason=NO_RESERVED_STOCK
    )
    assert shipment_plan(ORDER, [held("A", "east", 1)], at=NOW) == [
        PlannedParcel("east", [ParcelLine("A", 1)])
    ]


def test_a_refused_booking_answers_every_later_ship_order_with_the_carriers_reason() -> None:
    refused = ShipmentFailure(ORDER, "SimPost", "address not served", NOW)

    assert refused.answer(NOW + timedelta(hours=1)) == ShipmentFailed(
        order_id=ORDER, occurred_at=NOW + timedelta(hours=1), reason="address not served"
    )


def test_a_picking_answers_nothing_while_picking_and_its_reason_once_cancelled() -> None:
    address = Address(
        name="Ada", line1="1 Main St", city="Leeds", postal_code="LS1 1AA", country="GB"
    )
    picking = Picking(ORDER, address, PickingStatus.PICKING, NOW, NOW + timedelta(minutes=5))
    cancelled = replace(picking, status=PickingStatus.CANCELLED, reason=RELEASED_WHILE_PICKING)

    assert picking.answer(NOW) is None
    assert cancelled.answer(NOW) == ShipmentFailed(
        order_id=ORDER, occurred_at=NOW, reason=RELEASED_WHILE_PICKING
    )


def test_a_shipped_order_names_its_first_parcel_and_lists_each_with_its_lines() -> None:
    east = replace(parcel(S.SHIPPED), order_id=ORDER, warehouse="east", tracking_number="SP1")
    west = replace(parcel(S.SHIPPED), order_id=ORDER, warehouse="west", tracking_number="SP2")
    shipped = {"east": [ParcelLine("A", 3)], "west": [ParcelLine("A", 2), ParcelLine("B", 1)]}

    notice = shipping_notice([east, west], shipped)

    assert notice == OrderShipped(
        order_id=ORDER,
        occurred_at=NOW,
        shipment_id=east.shipment_id,
        carrier="SimPost",
        tracking_number="SP1",
        parcels=[
            Parcel(
                shipment_id=east.shipment_id,
                warehouse="east",
                carrier="SimPost",
                tracking_number="SP1",
                lines=[StockLine(sku="A", quantity=3)],
            ),
            Parcel(
                shipment_id=west.shipment_id,
                warehouse="west",
                carrier="SimPost",
                tracking_number="SP2",
                lines=[StockLine(sku="A", quantity=2), StockLine(sku="B", quantity=1)],
            ),
        ],
    )


def test_a_step_forward_is_tracked_and_a_parcel_given_up_on_fails_the_shipment() -> None:
    moving = parcel(S.IN_TRANSIT)
    lost = replace(parcel(S.FAILED), warehouse="east")
    update = replace(report(S.FAILED), detail="parcel lost")

    assert tracking_report(moving, report(S.IN_TRANSIT)) == [
        ShipmentTracked(
            order_id=moving.order_id,
            occurred_at=NOW,
            shipment_id=moving.shipment_id,
            carrier="SimPost",
            tracking_number="SP1",
            status="in_transit",
        )
    ]
    tracked, failed = tracking_report(lost, update)
    assert isinstance(tracked, ShipmentTracked)
    assert tracked.status == "failed"
    assert failed == ShipmentFailed(
        order_id=lost.order_id,
        occurred_at=NOW,
        reason="parcel SP1 from warehouse east failed in transit with SimPost: parcel lost",
    )


def test_an_order_is_delivered_once_its_last_parcel_is_named_for_the_latest_delivery() -> None:
    early = replace(parcel(S.DELIVERED), order_id=ORDER, delivered_at=NOW)
    late = replace(
        parcel(S.DELIVERED),
        order_id=ORDER,
        tracking_number="SP2",
        delivered_at=NOW + timedelta(hours=2),
    )

    assert delivery_notice([early, parcel(S.OUT_FOR_DELIVERY)], report(S.DELIVERED)) is None
    assert delivery_notice([late, early], report(S.DELIVERED)) == ShipmentDelivered(
        order_id=ORDER,
        occurred_at=NOW + timedelta(hours=2),
        shipment_id=late.shipment_id,
        tracking_number="SP2",
        delivered_at=NOW + timedelta(hours=2),
    )
