"""Replacements: goods taken from available stock as ReserveStock takes them (all or nothing,
one warehouse when one can), shipped in parcels of their own, decided once, and ended by
their own parcels: delivered when all are, failed when one is."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from orderly_inventory.domain.allocation import Available, Pick, Policy
from orderly_inventory.domain.errors import ConflictError
from orderly_inventory.domain.ledger import MovementKind
from orderly_inventory.domain.replacements import Replacement, ReplacementStatus, decide
from orderly_inventory.domain.shipments import (
    ADDRESS_ERASED,
    ParcelLine,
    PlannedParcel,
    Shipment,
    ShipmentStatus,
)
from orderly_schemas.base import StockLine
from orderly_schemas.inventory import (
    Parcel,
    ReplacementDelivered,
    ReplacementFailed,
    ReplacementRefused,
    ReplacementShipped,
)

NOW = datetime(2026, 12, 9, 10, 0, tzinfo=UTC)
ORDER = UUID("00000000-0000-0000-0000-0000000000c1")
REPLACEMENT = UUID("00000000-0000-0000-0000-0000000000e1")
STOCK = {
    "A": [Available("east", 1, 1, "east"), Available("west", 2, 5, "west")],
    "B": [Available("east", 1, 2, "east"), Available("west", 2, 1, "west")],
}
S = ShipmentStatus


def replacement_of(
    *lines: tuple[str, int],
    available: dict[str, list[Available]] | None = STOCK,
    pick_delay: timedelta = timedelta(0),
    policy: Policy = Policy.PRIORITY,
    ship_region: str | None = None,
) -> Replacement:
    return decide(
        replacement_id=REPLACEMENT,
        order_id=ORDER,
        lines=list(lines),
        reason="claim CLM-0000001: parcel lost in transit",
        available=available,
        at=NOW,
        pick_delay=pick_delay,
        policy=policy,
        ship_region=ship_region,
    )


def parcel_of(replacement: Replacement, warehouse: str, number: str, status: S) -> Shipment:
    return Shipment(
        shipment_id=uuid4(),
        order_id=replacement.order_id,
        warehouse=warehouse,
        carrier="SimPost",
        tracking_number=number,
        status=status,
        shipped_at=NOW,
        replacement_id=replacement.replacement_id,
    )


def test_a_replacement_one_warehouse_can_serve_whole_is_taken_from_it_by_priority() -> None:
    replacement = replacement_of(("B", 1), ("A", 1))

    assert replacement.status is ReplacementStatus.PICKING
    assert replacement.picks == (Pick("A", "east", 1), Pick("B", "east", 1))
    assert replacement.parcels() == [
        PlannedParcel("east", [ParcelLine("A", 1), ParcelLine("B", 1)])
    ]
    assert replacement.lines == (ParcelLine("A", 1), ParcelLine("B", 1))


def test_a_replacement_no_warehouse_has_whole_is_split_over_the_fewest_one_parcel_each() -> None:
    replacement = replacement_of(("A", 3), ("B", 2), ("A", 1))  # A twice: 4 units in all

    assert replacement.lines == (ParcelLine("A", 4), ParcelLine("B", 2))
    # Neither has it all; east first (priority) gives what it has, west the rest.
    assert replacement.picks == (Pick("A", "east", 1), Pick("A", "west", 3), Pick("B", "east", 2))
    assert replacement.parcels() == [
        PlannedParcel("east", [ParcelLine("A", 1), ParcelLine("B", 2)]),
        PlannedParcel("west", [ParcelLine("A", 3)]),
    ]


def test_the_nearest_policy_takes_it_from_the_region_serving_its_address() -> None:
    replacement = replacement_of(("A", 1), policy=Policy.NEAREST, ship_region="west")

    assert replacement.picks == (Pick("A", "west", 1),)


def test_with_no_pick_delay_it_is_due_at_once_and_otherwise_when_picked() -> None:
    at_once = replacement_of(("A", 1))
    picked = replacement_of(("A", 1), pick_delay=timedelta(minutes=5))

    assert at_once.due(NOW)
    assert not picked.due(NOW)
    assert picked.due(NOW + timedelta(minutes=5))
    assert picked.answer([]) is None  # no answer while it is picked: its hand-over answers


def test_a_replacement_with_a_short_line_takes_nothing_and_names_every_short_sku() -> None:
    replacement = replacement_of(("A", 1), ("B", 4), ("C", 1))

    assert replacement.status is ReplacementStatus.REFUSED
    assert replacement.picks == ()
    assert replacement.reservation_movements() == []
    assert replacement.answer([]) == ReplacementRefused(
        order_id=ORDER,
        occurred_at=NOW,
        replacement_id=REPLACEMENT,
        reason="insufficient stock: B is short by 1, C is short by 1",
        short_skus=["B", "C"],
    )


def test_a_replacement_with_no_address_to_ship_to_is_refused_whatever_the_stock() -> None:
    replacement = replacement_of(("A", 1), available=None)

    assert replacement.answer([]) == ReplacementRefused(
        order_id=ORDER,
        occurred_at=NOW,
        replacement_id=REPLACEMENT,
        reason=ADDRESS_ERASED,
        short_skus=[],
    )


def test_a_carrier_refusal_before_any_stock_moved_keeps_no_picks_and_one_after_keeps_them() -> None:
    replacement = replacement_of(("A", 1))
    later = NOW + timedelta(minutes=5)

    at_once = replacement.refused("SimPost does not deliver there", at=later, held=False)
    after_picking = replacement.refused("SimPost does not deliver there", at=later)

    assert at_once.picks == ()
    assert after_picking.picks == replacement.picks
    [release] = after_picking.release_movements("SimPost does not deliver there")
    assert (release.kind, release.quantity, release.on_hand, release.reserved) == (
        MovementKind.RELEASE,
        1,
        0,
        -1,
    )
    assert at_once.answer([]) == after_picking.answer([])


def test_its_stock_is_reserved_then_shipped_under_its_own_id_naming_it_and_its_order() -> None:
    replacement = replacement_of(("A", 3), ("B", 2))
    parcels = [
        parcel_of(replacement, "east", "SP0001", S.SHIPPED),
        parcel_of(replacement, "west", "SP0002", S.SHIPPED),
    ]

    reserved = replacement.reservation_movements()
    shipped = replacement.shipment_movements(parcels)

    named = f"replacement {REPLACEMENT} of order {ORDER}"
    assert [(m.sku, m.warehouse, m.kind, m.on_hand, m.reserved) for m in reserved + shipped] == [
        ("A", "east", MovementKind.RESERVATION, 0, 1),
        ("A", "west", MovementKind.RESERVATION, 0, 2),
        ("B", "east", MovementKind.RESERVATION, 0, 2),
        ("A", "east", MovementKind.SHIPMENT, -1, -1),
        ("A", "west", MovementKind.SHIPMENT, -2, -2),
        ("B", "east", MovementKind.SHIPMENT, -2, -2),
    ]
    assert {m.reference for m in reserved + shipped} == {str(REPLACEMENT)}
    assert all(named in m.reason for m in reserved + shipped)
    assert [m.reason for m in shipped] == [
        f"{named} shipped with SimPost as SP0001",
        f"{named} shipped with SimPost as SP0002",
        f"{named} shipped with SimPost as SP0001",
    ]


def test_a_shipped_replacement_is_answered_with_its_parcels_and_their_lines_each_time() -> None:
    replacement = replacement_of(("A", 3), ("B", 2)).shipped(NOW)
    east = parcel_of(replacement, "east", "SP0001", S.SHIPPED)
    west = parcel_of(replacement, "west", "SP0002", S.IN_TRANSIT)

    first = replacement.answer([east, west])
    again = replacement.answer([east, west])

    assert (
        first
        == again
        == ReplacementShipped(
            order_id=ORDER,
            occurred_at=NOW,
            replacement_id=REPLACEMENT,
            parcels=[
                Parcel(
                    shipment_id=east.shipment_id,
                    warehouse="east",
                    carrier="SimPost",
                    tracking_number="SP0001",
                    lines=[StockLine(sku="A", quantity=1), StockLine(sku="B", quantity=2)],
                ),
                Parcel(
                    shipment_id=west.shipment_id,
                    warehouse="west",
                    carrier="SimPost",
                    tracking_number="SP0002",
                    lines=[StockLine(sku="A", quantity=2)],
                ),
            ],
        )
    )


def test_a_replacement_id_names_one_replacement_of_one_order() -> None:
    replacement = replacement_of(("A", 1))

    replacement.check_order(ORDER)
    with pytest.raises(ConflictError, match=f"replacement {REPLACEMENT} is of order {ORDER}"):
        replacement.check_order(uuid4())


def test_it_is_delivered_once_its_last_parcel_is_at_the_latest_delivery() -> None:
    replacement = replacement_of(("A", 3), ("B", 2)).shipped(NOW)
    east = replace(
        parcel_of(replacement, "east", "SP1", S.DELIVERED), delivered_at=NOW + timedelta(hours=3)
    )
    west = parcel_of(replacement, "west", "SP2", S.OUT_FOR_DELIVERY)
    west_delivered = replace(west, status=S.DELIVERED, delivered_at=NOW + timedelta(hours=2))

    halfway, nothing = replacement.progress([east, west])
    delivered, notice = replacement.progress([east, west_delivered])
    after, again = delivered.progress([east, west_delivered])

    assert (halfway, nothing) == (replacement, None)
    assert delivered.status is ReplacementStatus.DELIVERED
    assert notice == ReplacementDelivered(
        order_id=ORDER,
        occurred_at=NOW + timedelta(hours=3),
        replacement_id=REPLACEMENT,
        delivered_at=NOW + timedelta(hours=3),
    )
    assert (after, again) == (delivered, None)


def test_a_parcel_failing_fails_the_replacement_once_never_the_order() -> None:
    replacement = replacement_of(("A", 3), ("B", 2)).shipped(NOW)
    lost = replace(
        parcel_of(replacement, "east", "SP1", S.FAILED),
        status_at=NOW + timedelta(hours=1),
        status_detail="parcel lost",
    )
    west = parcel_of(replacement, "west", "SP2", S.IN_TRANSIT)

    failed, notice = replacement.progress([lost, west])
    later, again = failed.progress([lost, replace(west, status=S.DELIVERED)])

    assert failed.status is ReplacementStatus.FAILED
    assert notice == ReplacementFailed(
        order_id=ORDER,
        occurred_at=NOW + timedelta(hours=1),
        replacement_id=REPLACEMENT,
        reason="parcel SP1 from warehouse east failed in transit with SimPost: parcel lost",
    )
    assert (later, again) == (failed, None)  # the other parcel's delivery ends nothing more
