"""Transfers: the state machine, draft and receipt rules, and the movements each step makes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

import pytest

from orderly_inventory.domain.errors import ConflictError, InvalidInputError
from orderly_inventory.domain.ledger import Level, MovementKind
from orderly_inventory.domain.transfers import (
    InsufficientStockError,
    Shortage,
    Step,
    Transfer,
    TransferLine,
    TransferStateError,
    TransferStatus,
    check_same_counts,
    counted_lines,
    dispatch_movements,
    draft_lines,
    must_take,
    receive_movements,
    shortages,
)
from orderly_schemas.inventory import StockReceived, StockTransferred
from orderly_schemas.inventory import TransferLine as TransferredLine

ID = UUID("00000000-0000-0000-0000-00000000000a")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WAREHOUSES = {"east", "west"}


def transfer(status: TransferStatus = TransferStatus.DRAFT, **lines: int) -> Transfer:
    return Transfer(
        transfer_id=ID,
        from_warehouse="east",
        to_warehouse="west",
        status=status,
        lines=tuple(TransferLine(sku, n) for sku, n in sorted((lines or {"MUG": 5}).items())),
        created_by="ana",
        created_at=NOW,
        updated_at=NOW,
    )


def level(sku: str, on_hand: int, reserved: int = 0) -> Level:
    return Level(sku, "east", on_hand, reserved, 0, 0, False)


# -- drafts -------------------------------------------------------------------------
def test_a_draft_keeps_one_line_per_sku_in_sku_order() -> None:
    lines = draft_lines(
        from_warehouse="east",
        to_warehouse="west",
        lines=[("TEE", 2), ("MUG", 5)],
        warehouses=WAREHOUSES,
    )

    assert lines == (TransferLine("MUG", 5), TransferLine("TEE", 2))


@pytest.mark.parametrize(
    ("source", "destination", "lines", "loc", "says"),
    [
        ("east", "east", [("MUG", 1)], ("to_warehouse",), "must differ from from_warehouse"),
        ("north", "west", [("MUG", 1)], ("from_warehouse",), "no warehouse 'north'"),
        ("east", "south", [("MUG", 1)], ("to_warehouse",), "(known: east, west)"),
        ("east", "west", [], ("lines",), "at least one line"),
        ("east", "west", [("MUG", 1), ("MUG", 2)], ("lines", 1, "sku"), "more than once"),
        ("east", "west", [("MUG", 0)], ("lines", 0, "quantity"), "positive number of units"),
    ],
)
def test_an_invalid_draft_names_the_field_and_the_rule(
    source: str, destination: str, lines: list[tuple[str, int]], loc: tuple[object], says: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        draft_lines(
            from_warehouse=source, to_warehouse=destination, lines=lines, warehouses=WAREHOUSES
        )

    assert refused.value.loc == loc
    assert says in refused.value.message


def test_a_retried_create_is_the_same_draft_whatever_its_counts() -> None:
    draft = transfer(MUG=5)
    received = replace(draft, lines=(TransferLine("MUG", 5, 5, 0),))

    assert draft.same_draft(received)
    assert not draft.same_draft(transfer(MUG=6))
    assert not draft.same_draft(replace(draft, to_warehouse="north"))


# -- the state machine --------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "step", "to_take"),
    [
        (TransferStatus.DRAFT, Step.EDIT, True),
        (TransferStatus.DRAFT, Step.CANCEL, True),
        (TransferStatus.DRAFT, Step.DISPATCH, True),
        (TransferStatus.DISPATCHED, Step.RECEIVE, True),
        # Taken already: a retry, nothing to do.
        (TransferStatus.CANCELLED, Step.CANCEL, False),
        (TransferStatus.DISPATCHED, Step.DISPATCH, False),
        (TransferStatus.RECEIVED, Step.DISPATCH, False),
        (TransferStatus.RECEIVED, Step.RECEIVE, False),
    ],
)
def test_a_step_is_taken_from_its_status_and_is_a_no_op_once_taken(
    status: TransferStatus, step: Step, to_take: bool
) -> None:
    assert must_take(transfer(status), step) is to_take


@pytest.mark.parametrize(
    ("status", "step", "says"),
    [
        (
            TransferStatus.DRAFT,
            Step.RECEIVE,
            "is draft: only a dispatched transfer can be received",
        ),
        (TransferStatus.DISPATCHED, Step.CANCEL, "is dispatched: only a draft transfer can be"),
        (TransferStatus.DISPATCHED, Step.EDIT, "receive it at the destination"),
        (TransferStatus.RECEIVED, Step.CANCEL, "is received"),
        (TransferStatus.CANCELLED, Step.DISPATCH, "is cancelled"),
        (TransferStatus.CANCELLED, Step.RECEIVE, "create a new transfer"),
    ],
)
def test_a_step_out_of_order_is_a_conflict_that_says_the_status(
    status: TransferStatus, step: Step, says: str
) -> None:
    with pytest.raises(TransferStateError) as refused:
        must_take(transfer(status), step)

    assert says in str(refused.value)
    assert refused.value.status is status


# -- dispatch -----------------------------------------------------------------------
def test_dispatch_takes_units_off_the_source_and_puts_them_in_transit_in_lock_order() -> None:
    moves = dispatch_movements(transfer(TEE=2, MUG=5), actor="bo")

    assert [(m.sku, m.warehouse, m.kind, m.quantity, m.on_hand, m.in_transit) for m in moves] == [
        ("MUG", "east", MovementKind.TRANSFER_OUT, 5, -5, 0),
        ("MUG", "west", MovementKind.TRANSFER_IN_TRANSIT, 5, 0, 5),
        ("TEE", "east", MovementKind.TRANSFER_OUT, 2, -2, 0),
        ("TEE", "west", MovementKind.TRANSFER_IN_TRANSIT, 2, 0, 2),
    ]
    assert {(m.reference, m.actor, m.reserved) for m in moves} == {(str(ID), "bo", 0)}


def test_only_available_stock_can_leave_never_the_reserved() -> None:
    found = shortages(
        transfer(MUG=5, TEE=2, CAP=1), {"MUG": level("MUG", 8, reserved=4), "TEE": level("TEE", 2)}
    )

    assert found == [Shortage("CAP", "east", 1, 0, 0), Shortage("MUG", "east", 5, 8, 4)]
    message = str(InsufficientStockError(ID, found))
    assert "sku MUG needs 5 but 4 are available at east (8 on hand, 4 reserved)" in message
    assert "sku CAP needs 1 but 0 are available" in message


# -- receipt ------------------------------------------------------------------------
def test_counts_are_checked_against_what_was_dispatched() -> None:
    sent = transfer(TransferStatus.DISPATCHED, MUG=5, TEE=2)

    counted = counted_lines(sent, [("TEE", 2, 0), ("MUG", 3, 1)])

    assert counted == (TransferLine("MUG", 5, 3, 1), TransferLine("TEE", 2, 2, 0))
    assert [line.lost for line in counted] == [1, 0]


@pytest.mark.parametrize(
    ("counts", "loc", "says"),
    [
        ([("MUG", 4, 2)], ("lines", 0, "received"), "is 6, more than the 5 units"),
        ([("MUG", 5, 0), ("CAP", 1, 0)], ("lines", 1, "sku"), "'CAP' is not on transfer"),
        ([("MUG", 1, 0), ("MUG", 1, 0)], ("lines", 1, "sku"), "counted more than once"),
        ([("MUG", -1, 0)], ("lines", 0, "received"), "cannot be negative"),
        ([("MUG", 1, -1)], ("lines", 0, "damaged"), "cannot be negative"),
    ],
)
def test_invalid_counts_name_the_line_and_the_rule(
    counts: list[tuple[str, int, int]], loc: tuple[object], says: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        counted_lines(transfer(TransferStatus.DISPATCHED, MUG=5), counts)

    assert refused.value.loc == loc
    assert says in refused.value.message


def test_every_line_must_be_counted_even_if_nothing_arrived() -> None:
    with pytest.raises(InvalidInputError) as refused:
        counted_lines(transfer(TransferStatus.DISPATCHED, MUG=5, TEE=2), [("MUG", 5, 0)])

    assert refused.value.loc == ("lines",)
    assert "no count for sku TEE" in refused.value.message


def test_receipt_puts_whole_units_on_the_shelf_and_writes_off_damaged_and_missing() -> None:
    sent = transfer(TransferStatus.DISPATCHED, MUG=5, TEE=2)
    arrived = replace(sent, lines=counted_lines(sent, [("MUG", 3, 1), ("TEE", 2, 0)]))

    moves = receive_movements(arrived, actor="cy")

    assert [
        (m.sku, m.warehouse, m.kind, m.quantity, m.on_hand, m.in_transit, m.reason) for m in moves
    ] == [
        (
            "MUG",
            "west",
            MovementKind.TRANSFER_IN,
            5,
            3,
            -5,
            "transfer from east: 3 of 5 received (1 damaged, 1 missing)",
        ),
        ("MUG", "west", MovementKind.WRITE_OFF, 1, 0, 0, "damaged in transit from east"),
        ("MUG", "west", MovementKind.WRITE_OFF, 1, 0, 0, "missing: lost in transit from east"),
        (
            "TEE",
            "west",
            MovementKind.TRANSFER_IN,
            2,
            2,
            -2,
            "transfer from east: 2 of 2 received (0 damaged, 0 missing)",
        ),
    ]


def test_a_repeated_receipt_must_repeat_the_counts() -> None:
    sent = transfer(TransferStatus.DISPATCHED, MUG=5)
    done = replace(sent, status=TransferStatus.RECEIVED, lines=(TransferLine("MUG", 5, 4, 1),))

    check_same_counts(done, counted_lines(done, [("MUG", 4, 1)]))
    with pytest.raises(ConflictError, match="already received with other counts"):
        check_same_counts(done, counted_lines(done, [("MUG", 5, 0)]))


def test_each_step_announces_the_transfer_with_its_lines_and_counts() -> None:
    sent = replace(transfer(MUG=5), status=TransferStatus.DISPATCHED)
    arrived = replace(
        sent, status=TransferStatus.RECEIVED, lines=counted_lines(sent, [("MUG", 3, 1)])
    )

    assert sent.announcement(NOW).status == "dispatched"
    assert arrived.announcement(NOW) == StockTransferred(
        transfer_id=ID,
        status="received",
        from_warehouse="east",
        to_warehouse="west",
        lines=[TransferredLine(sku="MUG", quantity=5, received=3, damaged=1)],
        occurred_at=NOW,
    )


def test_a_received_transfer_announces_the_whole_units_that_reached_the_shelf() -> None:
    sent = transfer(TransferStatus.DISPATCHED, MUG=5, TEE=2)
    arrived = replace(
        sent,
        status=TransferStatus.RECEIVED,
        lines=counted_lines(sent, [("MUG", 3, 1), ("TEE", 0, 2)]),
        received_by="cy",
        received_at=NOW,
    )
    after = [Level("MUG", "west", 13, 0, 0, 0, False), Level("TEE", "west", 4, 0, 0, 0, False)]

    assert arrived.arrivals(after) == [
        StockReceived(
            sku="MUG",
            warehouse="west",
            occurred_at=NOW,
            quantity=3,
            on_hand=13,
            reference=str(ID),
            actor="cy",
        )
    ]
