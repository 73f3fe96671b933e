"""Return parcels: back to the warehouse that shipped most of the returned units; tracked
only forward; restocked only where the parcel goes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from orderly_inventory.domain.errors import InvalidInputError
from orderly_inventory.domain.returns import (
    ReturnParcel,
    ReturnParcelStatus,
    return_lines,
    return_warehouse,
)
from orderly_inventory.domain.shipments import ParcelLine, ShipmentStatus, TrackingUpdate
from orderly_schemas.inventory import ReturnParcelBooked, ReturnParcelRefused

NOW = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
R = ReturnParcelStatus


def lines(*pairs: tuple[str, int]) -> list[ParcelLine]:
    return [ParcelLine(sku, n) for sku, n in pairs]


def test_a_return_goes_back_to_the_one_warehouse_that_shipped_the_order() -> None:
    shipped = {"west": lines(("A", 2), ("B", 1))}

    assert return_warehouse(lines(("B", 1)), shipped) == "west"


def test_a_split_order_returns_to_the_warehouse_that_shipped_most_of_the_returned_units() -> None:
    shipped = {"east": lines(("A", 3)), "west": lines(("B", 1), ("C", 1))}

    assert return_warehouse(lines(("A", 1), ("B", 1), ("C", 1)), shipped) == "west"
    assert return_warehouse(lines(("A", 2), ("B", 1)), shipped) == "east"


def test_a_sku_shipped_from_two_warehouses_counts_for_each_as_far_as_it_came_from_there() -> None:
    shipped = {"east": lines(("A", 1)), "west": lines(("A", 2))}

    # Two units back: east can have sent one of them, west both.
    assert return_warehouse(lines(("A", 2)), shipped) == "west"


def test_a_tie_goes_to_the_first_warehouse_in_alphabetical_order() -> None:
    shipped = {"west": lines(("B", 1)), "east": lines(("A", 1))}

    assert return_warehouse(lines(("A", 1), ("B", 1)), shipped) == "east"


def test_a_return_of_skus_the_order_never_shipped_has_no_warehouse() -> None:
    shipped = {"east": lines(("A", 1))}

    assert return_warehouse(lines(("Z", 1)), shipped) is None
    assert return_warehouse(lines(("A", 1)), {}) is None


def test_returned_lines_are_one_per_sku_in_sku_order() -> None:
    assert return_lines([("B", 1), ("A", 2), ("B", 2)]) == (ParcelLine("A", 2), ParcelLine("B", 3))


def parcel(status: ReturnParcelStatus = R.BOOKED) -> ReturnParcel:
    return ReturnParcel(
        return_id=uuid4(),
        order_id=uuid4(),
        status=status,
        lines=(ParcelLine("A", 1),),
        booked_at=NOW,
        updated_at=NOW,
        warehouse="west",
        carrier="SimPost",
        tracking_number="SR0123456789AB",
    )


def report(status: ShipmentStatus) -> TrackingUpdate:
    return TrackingUpdate(
        delivery_id=str(uuid4()),
        tracking_number="SR0123456789AB",
        status=status,
        occurred_at=NOW,
        detail="at the dock",
    )


@pytest.mark.parametrize(
    ("now", "update", "moves"),
    [
        (R.BOOKED, ShipmentStatus.IN_TRANSIT, True),
        (R.IN_TRANSIT, ShipmentStatus.DELIVERED, True),
        (R.IN_TRANSIT, ShipmentStatus.IN_TRANSIT, False),
        (R.DELIVERED, ShipmentStatus.IN_TRANSIT, False),
        (R.DELIVERED, ShipmentStatus.FAILED, False),
        (R.FAILED, ShipmentStatus.DELIVERED, False),
        (R.RECEIVED, ShipmentStatus.DELIVERED, False),  # restocked before the carrier said so
    ],
)
def test_a_return_parcel_only_moves_forward(
    now: ReturnParcelStatus, update: ShipmentStatus, moves: bool
) -> None:
    assert parcel(now).advances(report(update)) is moves


def test_each_step_is_announced_with_the_return_and_its_tracking_number() -> None:
    booked = parcel()

    tracked = booked.progress_report(report(ShipmentStatus.DELIVERED))

    assert (tracked.return_id, tracked.order_id) == (booked.return_id, booked.order_id)
    assert (tracked.carrier, tracked.tracking_number) == ("SimPost", "SR0123456789AB")
    assert (tracked.status, tracked.detail, tracked.occurred_at) == (
        "delivered",
        "at the dock",
        NOW,
    )


def test_the_answer_names_the_parcel_or_the_refusal() -> None:
    booked = parcel()
    refused = replace(
        booked,
        status=R.REFUSED,
        warehouse=None,
        carrier=None,
        tracking_number=None,
        reason="no address",
    )

    assert booked.answer() == ReturnParcelBooked(
        order_id=booked.order_id,
        occurred_at=NOW,
        return_id=booked.return_id,
        warehouse="west",
        carrier="SimPost",
        tracking_number="SR0123456789AB",
    )
    assert refused.answer() == ReturnParcelRefused(
        order_id=booked.order_id, occurred_at=NOW, return_id=booked.return_id, reason="no address"
    )


def test_a_return_in_a_parcel_is_restocked_only_where_the_parcel_goes_and_for_its_order() -> None:
    booked = parcel()

    booked.check_restock(order_id=booked.order_id, warehouse="west")
    with pytest.raises(InvalidInputError) as elsewhere:
        booked.check_restock(order_id=booked.order_id, warehouse="east")
    with pytest.raises(InvalidInputError) as other_order:
        booked.check_restock(order_id=uuid4(), warehouse="west")

    assert (elsewhere.value.loc, elsewhere.value.value) == (("warehouse",), "east")
    assert "goes to warehouse 'west': restock it there" in elsewhere.value.message
    assert other_order.value.loc == ("order_id",)
    assert str(booked.order_id) in other_order.value.message


def test_a_return_whose_booking_was_refused_is_restocked_wherever_it_arrived() -> None:
    refused = replace(parcel(), status=R.REFUSED, warehouse=None, reason="erased")

    refused.check_restock(order_id=uuid4(), warehouse="east")
