"""Reservations: the answer every ReserveStock gets, the release acknowledgement, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from orderly_inventory.domain.allocation import Pick
from orderly_inventory.domain.reservations import (
    RELEASE_TOMBSTONE,
    RELEASED_BEFORE_RESERVED,
    Hold,
    RequestOutcome,
    Reservation,
    ReservationRequest,
    ReservationStatus,
    release_acknowledgement,
)
from orderly_schemas.base import Allocation
from orderly_schemas.inventory import (
    StockReleased,
    StockReservationExpired,
    StockReservationFailed,
    StockReserved,
)

ORDER = UUID("00000000-0000-0000-0000-0000000000c3")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_a_reserved_request_answers_stock_reserved_naming_each_warehouse() -> None:
    reserved = ReservationRequest(RequestOutcome.RESERVED, None, [])

    answer = reserved.answer(ORDER, held=[Pick("MUG", "east", 2), Pick("MUG", "west", 1)], at=NOW)

    assert answer == StockReserved(
        order_id=ORDER,
        occurred_at=NOW,
        allocations=[
            Allocation(sku="MUG", warehouse="east", quantity=2),
            Allocation(sku="MUG", warehouse="west", quantity=1),
        ],
    )


def test_a_failed_request_answers_with_its_reason_and_short_skus() -> None:
    failed = ReservationRequest(
        RequestOutcome.FAILED, "insufficient stock: MUG is short by 2", ["MUG"]
    )

    assert failed.answer(ORDER, at=NOW) == StockReservationFailed(
        order_id=ORDER,
        occurred_at=NOW,
        reason="insufficient stock: MUG is short by 2",
        short_skus=["MUG"],
    )


def test_a_reserve_after_the_release_is_refused_by_the_tombstone() -> None:
    answer = RELEASE_TOMBSTONE.answer(ORDER, at=NOW)

    assert isinstance(answer, StockReservationFailed)
    assert answer.reason == RELEASED_BEFORE_RESERVED


def test_every_release_is_acknowledged_with_its_reason() -> None:
    assert release_acknowledgement(ORDER, "customer cancelled", at=NOW) == StockReleased(
        order_id=ORDER, occurred_at=NOW, reason="customer cancelled"
    )


def test_a_hold_expires_at_its_deadline_giving_back_everything_it_held() -> None:
    hold = Hold(
        order_id=ORDER,
        reservations=[Reservation("MUG", "east", 2, ReservationStatus.RESERVED)],
        reserved_at=NOW - timedelta(minutes=15),
        expires_at=NOW,
    )

    assert hold.expiry(NOW - timedelta(seconds=1)) is None
    assert hold.expiry(NOW) == StockReservationExpired(
        order_id=ORDER,
        occurred_at=NOW,
        reason="reservation expired: stock was held 900s without the order shipping",
        allocations=[Allocation(sku="MUG", warehouse="east", quantity=2)],
    )
