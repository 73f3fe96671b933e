"""An order's status is its most advanced stage; terminal stages win; rates over ended orders."""

from __future__ import annotations

import pytest

from orderly_analytics.domain.order_stages import (
    NoStageReachedError,
    Stage,
    completion_rate,
    current_status,
)


def test_a_placed_order_is_placed() -> None:
    assert current_status([Stage.PLACED]) is Stage.PLACED


@pytest.mark.parametrize(
    ("reached", "status"),
    [
        ([Stage.PLACED, Stage.CONFIRMED], Stage.CONFIRMED),
        ([Stage.PLACED, Stage.CONFIRMED, Stage.PAID], Stage.PAID),
        ([Stage.PLACED, Stage.CONFIRMED, Stage.PAID, Stage.DISPATCHED], Stage.DISPATCHED),
        ([Stage.PAID, Stage.DISPATCHED, Stage.DELIVERED, Stage.CONFIRMED], Stage.DELIVERED),
    ],
)
def test_the_status_is_the_most_advanced_stage(reached: list[Stage], status: Stage) -> None:
    assert current_status(reached) is status


def test_lifecycle_stages_give_a_status_before_the_order_placed_event_arrives() -> None:
    assert current_status([Stage.PAID, Stage.CONFIRMED]) is Stage.PAID


@pytest.mark.parametrize("terminal", [Stage.COMPLETED, Stage.REJECTED, Stage.CANCELLED])
def test_a_terminal_stage_wins_over_every_progress_stage(terminal: Stage) -> None:
    progress = [Stage.PLACED, Stage.CONFIRMED, Stage.PAID, Stage.DISPATCHED, Stage.DELIVERED]
    assert current_status([terminal, *progress]) is terminal


def test_completion_arriving_before_delivery_stays_completed() -> None:
    assert current_status([Stage.COMPLETED, Stage.DELIVERED]) is Stage.COMPLETED


def test_an_order_that_reached_no_stage_has_no_status() -> None:
    with pytest.raises(NoStageReachedError):
        current_status([])


def test_completion_rate_counts_only_orders_that_ended() -> None:
    counts = {
        Stage.COMPLETED: 3,
        Stage.CANCELLED: 1,
        Stage.REJECTED: 2,
        Stage.DISPATCHED: 10,
        Stage.PLACED: 4,
    }
    assert completion_rate(counts) == 0.5


def test_completion_rate_is_unknown_while_no_order_ended() -> None:
    assert completion_rate({Stage.PLACED: 5, Stage.PAID: 2}) is None
    assert completion_rate({}) is None


def test_completion_rate_of_only_completed_orders_is_one() -> None:
    assert completion_rate({Stage.COMPLETED: 7}) == 1.0


def test_an_order_needing_attention_shows_it_unless_it_already_ended() -> None:
    assert current_status([Stage.DISPATCHED, Stage.NEEDS_ATTENTION]) is Stage.NEEDS_ATTENTION
    assert current_status([Stage.CANCELLED, Stage.NEEDS_ATTENTION]) is Stage.CANCELLED
    assert completion_rate({Stage.COMPLETED: 3, Stage.NEEDS_ATTENTION: 1}) == 3 / 4
