"""Parcels: one per warehouse; tracking only moves a parcel forward."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from orderly_inventory.domain.reservations import Reservation, ReservationStatus
from orderly_inventory.domain.shipments import (
    ParcelLine,
    PlannedParcel,
    Shipment,
    ShipmentStatus,
    TrackingUpdate,
    advances,
    overall_status,
    plan_parcels,
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
