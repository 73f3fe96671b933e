"""Stock-takes: variance against the stock at count time, latest count wins, approval's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from orderly_inventory.domain.errors import ConflictError
from orderly_inventory.domain.stocktakes import (
    Adjustment,
    BelowReserved,
    Count,
    Line,
    OpenStockTake,
    Scope,
    Shelf,
    StockTake,
    StockTakeStatus,
    UncountedPolicy,
    approval_refused,
    below_reserved,
    check_no_overlap,
    totals,
)

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
TAKE = UUID("00000000-0000-4000-8000-000000000001")


def count(by: str, quantity: int, system_on_hand: int, minute: int = 0) -> Count:
    return Count(uuid4(), by, quantity, system_on_hand, T0 + timedelta(minutes=minute))


def take(
    *lines: Line, scope: Scope = Scope.LISTED, status: StockTakeStatus = StockTakeStatus.OPEN
) -> StockTake:
    return StockTake(
        id=TAKE,
        warehouse="east",
        scope=scope,
        status=status,
        opened_by="sam",
        opened_at=T0,
        approved_by="pat" if status is StockTakeStatus.APPROVED else None,
        cancelled_by="pat" if status is StockTakeStatus.CANCELLED else None,
        lines=lines,
    )


def test_an_uncounted_line_expects_what_was_on_hand_at_opening_and_has_no_variance() -> None:
    line = Line("MUG", on_hand_at_open=10)

    assert (line.expected, line.counted, line.variance) == (10, None, None)


def test_the_variance_is_against_the_stock_when_the_count_was_recorded_not_at_opening() -> None:
    # 10 at opening; 2 shipped before the count, so 8 were expected; 7 found: 1 missing.
    line = Line("MUG", on_hand_at_open=10, counts=(count("ann", 7, system_on_hand=8),))

    assert (line.expected, line.counted, line.variance) == (8, 7, -1)


def test_the_latest_count_is_the_lines_count_and_a_recount_replaces_the_counters_earlier() -> None:
    first = count("ann", 7, 10, minute=1)
    other = count("bob", 9, 10, minute=2)
    recount = count("ann", 9, 10, minute=3)
    line = Line("MUG", 10, counts=(first, other, recount))

    assert line.counted == 9
    assert line.current_counts == (other, recount)
    assert line.counters_agree


def test_counters_disagree_on_variance_not_on_quantity() -> None:
    # Bob counted after 2 units shipped: 7 then is 9 before; both say "1 missing".
    agreeing = Line("MUG", 10, counts=(count("ann", 9, 10), count("bob", 7, 8, minute=5)))
    disagreeing = Line("CAP", 10, counts=(count("ann", 9, 10), count("bob", 10, 10, minute=5)))

    assert agreeing.counters_agree
    assert not disagreeing.counters_agree
    assert disagreeing.variance == 0  # the latest count still decides


def test_totals_sum_the_lines_variances_both_ways() -> None:
    lines = [
        Line("A", 5, counts=(count("ann", 7, 5),)),
        Line("B", 5, counts=(count("ann", 2, 5),)),
        Line("C", 5, counts=(count("ann", 5, 5), count("bob", 4, 5))),
        Line("D", 5),
    ]

    assert totals(lines).__dict__ == {
        "lines": 4,
        "counted": 3,
        "uncounted": 1,
        "with_variance": 3,
        "disputed": 1,
        "units_over": 2,
        "units_short": 4,
        "net_variance": -2,
    }


def test_approval_adjusts_only_lines_with_a_variance_in_sku_order() -> None:
    stock_take = take(
        Line("B", 5, counts=(count("ann", 3, 5),)),
        Line("A", 5, counts=(count("ann", 6, 5),)),
        Line("C", 5, counts=(count("ann", 5, 5),)),
    )

    assert stock_take.adjustments(UncountedPolicy.REFUSE) == [
        Adjustment("A", 1),
        Adjustment("B", -2),
    ]


def test_approval_refuses_uncounted_lines_unless_told_to_leave_them_unchanged() -> None:
    stock_take = take(Line("A", 5, counts=(count("ann", 4, 5),)), Line("B", 5), Line("C", 0))

    with pytest.raises(ConflictError, match=r"2 uncounted line\(s\): B, C; count them"):
        stock_take.adjustments(UncountedPolicy.REFUSE)
    assert stock_take.adjustments(UncountedPolicy.LEAVE_UNCHANGED) == [Adjustment("A", -1)]


def test_a_count_below_the_reserved_units_cannot_be_applied() -> None:
    adjustments = [Adjustment("A", -3), Adjustment("B", -3), Adjustment("C", 2)]
    shelves = {"A": Shelf("A", 10, 7), "B": Shelf("B", 10, 8)}

    short = below_reserved(adjustments, shelves)

    assert short == [BelowReserved("B", on_hand_after=7, reserved=8)]
    refusal = str(approval_refused(take(), short, {"B": ["o-1", "o-2"]}))
    assert "sku 'B': the count leaves 7 on hand but 8 are reserved (held for orders o-1, o-2)" in (
        refusal
    )
    assert "Recount these skus, or have the orders holding them cancelled or re-allocated" in (
        refusal
    )


def test_counting_a_sku_not_listed_is_refused_naming_the_listed_ones() -> None:
    stock_take = take(Line("A", 1), Line("B", 1))

    assert stock_take.check_countable("A") is True
    with pytest.raises(ConflictError, match=r"only 2 listed sku\(s\) at 'east' \(A, B\)"):
        stock_take.check_countable("Z")


def test_a_sku_found_on_the_shelves_becomes_a_line_of_a_stock_take_of_all_skus() -> None:
    assert take(Line("A", 1), scope=Scope.ALL).check_countable("Z") is False


@pytest.mark.parametrize("status", [StockTakeStatus.APPROVED, StockTakeStatus.CANCELLED])
def test_no_count_is_taken_once_the_stock_take_is_closed(status: StockTakeStatus) -> None:
    with pytest.raises(ConflictError, match=f"is {status.value}: counts can no longer"):
        take(Line("A", 1), status=status).check_countable("A")


def test_approving_or_cancelling_twice_is_a_repeat_and_the_other_way_round_a_conflict() -> None:
    approved = take(status=StockTakeStatus.APPROVED)
    cancelled = take(status=StockTakeStatus.CANCELLED)

    assert take().check_approvable()
    assert take().check_cancellable()
    assert approved.check_approvable() is False
    assert cancelled.check_cancellable() is False
    with pytest.raises(ConflictError, match="was cancelled by pat: it cannot be approved"):
        cancelled.check_approvable()
    with pytest.raises(ConflictError, match=r"approved by pat: .* cannot be cancelled"):
        approved.check_cancellable()


def test_two_open_stock_takes_may_not_count_the_same_sku() -> None:
    listed = OpenStockTake(uuid4(), Scope.LISTED, frozenset({"A", "B"}))
    everything = OpenStockTake(uuid4(), Scope.ALL, frozenset({"A"}))

    check_no_overlap("east", Scope.LISTED, ["C"], [listed])  # disjoint: fine
    with pytest.raises(ConflictError, match=r"counts B too: approve or cancel it first"):
        check_no_overlap("east", Scope.LISTED, ["B", "C"], [listed])
    with pytest.raises(ConflictError, match="a count of all skus includes them"):
        check_no_overlap("east", Scope.ALL, [], [listed])
    with pytest.raises(ConflictError, match="counts every sku there"):
        check_no_overlap("east", Scope.LISTED, ["Z"], [everything])
