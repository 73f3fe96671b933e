"""The order_stages use cases without a database: which stage each event stamps, when, and
with what; what a repeat or an early arrival does.

Each event is handled in a unit of work of its own over a read model kept in memory.
``tests/integration/test_order_stages.py`` runs the same use cases on
PostgreSQL (the upsert, concurrent events of one order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from orderly_analytics import use_cases
from orderly_analytics.domain.order_stages import Stage, current_status
from orderly_dev.checkout import happy_path, make_order
from orderly_dev.unit_of_work import FakeUnitOfWork
from orderly_schemas.base import Message
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.order import (
    OrderCancelled,
    OrderCompleted,
    OrderEvent,
    OrderNeedsAttention,
    OrderRejected,
)

PLACED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@dataclass
class Row:
    """One order of the read model: the time of each stage reached, and its details."""

    stamps: dict[Stage, datetime] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> Stage:
        return current_status(self.stamps)


@dataclass
class FakeOrderStages:
    """``OrderStages`` in memory."""

    rows: dict[UUID, Row] = field(default_factory=dict)

    async def record_stage(
        self, *, order_id: UUID, stage: Stage, at: datetime, **details: Any
    ) -> bool:
        row = self.rows.setdefault(order_id, Row())
        if stage in row.stamps:
            return False
        row.stamps[stage] = at
        for name, value in details.items():
            if row.details.get(name) is None:
                row.details[name] = value
        return True


@pytest.fixture
def stages() -> FakeOrderStages:
    return FakeOrderStages()


async def record(stages: FakeOrderStages, *events: Message) -> None:
    """Handle each event in a unit of work of its own, as the consumers do."""
    for event in events:
        uow = FakeUnitOfWork(stages, service="analytics")
        if isinstance(event, OrderPlaced):
            await use_cases.order_stages.record_order_placed(uow, event)
        else:
            assert isinstance(event, OrderEvent)
            await use_cases.order_stages.record_order_lifecycle(uow, event)
        assert uow.published == []


def an_order() -> OrderPlaced:
    order: OrderPlaced = make_order().model_copy(update={"placed_at": PLACED_AT})
    return order


def lifecycle(order: OrderPlaced, *, ending: type[OrderEvent] = OrderCompleted) -> list[Message]:
    """OrderPlaced, then each lifecycle event up to ``ending``, a minute after the one before."""
    *progress, completed = happy_path(order, step=MINUTE)
    assert isinstance(completed, OrderCompleted)
    common: dict[str, Any] = {
        "order_id": order.order_id,
        "order_number": completed.order_number,
        "customer_id": order.customer.customer_id,
        "occurred_at": completed.occurred_at,
    }
    endings: dict[type[OrderEvent], OrderEvent] = {
        OrderCompleted: completed,
        OrderNeedsAttention: OrderNeedsAttention(
            **common, reason="refund failed", amount=order.total
        ),
        OrderCancelled: OrderCancelled(**common, reason="too late"),
        OrderRejected: OrderRejected(**common, reason="sold out"),
    }
    return [*progress, endings[ending]]


async def test_an_order_that_went_all_the_way_shows_when_it_reached_each_stage(
    stages: FakeOrderStages,
) -> None:
    order = an_order()

    await record(stages, *lifecycle(order))

    row = stages.rows[order.order_id]
    assert row.status is Stage.COMPLETED
    assert row.stamps == {
        Stage.PLACED: PLACED_AT,
        Stage.CONFIRMED: PLACED_AT + 1 * MINUTE,
        Stage.PAID: PLACED_AT + 2 * MINUTE,
        Stage.DISPATCHED: PLACED_AT + 3 * MINUTE,
        Stage.DELIVERED: PLACED_AT + 4 * MINUTE,
        Stage.COMPLETED: PLACED_AT + 5 * MINUTE,
    }
    assert row.details == {
        "order_number": "ORD-0000001",
        "customer_id": order.customer.customer_id,
        "currency": order.total.currency,
        "total_amount": order.total.amount,
    }


@pytest.mark.parametrize(
    ("reached", "ending", "stage"),
    [
        (2, OrderRejected, Stage.REJECTED),  # placed and confirmed, then no stock
        (3, OrderCancelled, Stage.CANCELLED),  # paid, then cancelled
        (4, OrderNeedsAttention, Stage.NEEDS_ATTENTION),  # dispatched, then lost
    ],
)
async def test_an_order_that_ended_otherwise_shows_how_and_when(
    stages: FakeOrderStages, reached: int, ending: type[OrderEvent], stage: Stage
) -> None:
    order = an_order()
    events = lifecycle(order, ending=ending)
    await record(stages, *events[:reached])

    await record(stages, events[-1])

    row = stages.rows[order.order_id]
    assert (row.status, row.stamps[stage]) == (stage, PLACED_AT + 5 * MINUTE)
    assert len(row.stamps) == reached + 1


async def test_the_placed_order_stamps_its_customer_and_total(stages: FakeOrderStages) -> None:
    order = an_order()

    await record(stages, order)

    row = stages.rows[order.order_id]
    assert (row.status, row.stamps) == (Stage.PLACED, {Stage.PLACED: PLACED_AT})
    assert row.details == {
        "customer_id": order.customer.customer_id,
        "currency": order.total.currency,
        "total_amount": order.total.amount,
    }


async def test_a_payment_arriving_first_leaves_the_total_to_come_with_the_order(
    stages: FakeOrderStages,
) -> None:
    order = an_order()
    _, _, paid, *_ = lifecycle(order)

    await record(stages, paid)

    row = stages.rows[order.order_id]
    assert (row.status, row.stamps) == (Stage.PAID, {Stage.PAID: PLACED_AT + 2 * MINUTE})
    assert row.details == {
        "order_number": "ORD-0000001",
        "customer_id": order.customer.customer_id,
        "currency": None,
        "total_amount": None,
    }


async def test_events_that_arrive_before_the_order_was_placed_are_kept(
    stages: FakeOrderStages,
) -> None:
    order = an_order()
    placed, confirmed, paid, dispatched, *_ = lifecycle(order)
    await record(stages, dispatched, paid, confirmed)

    await record(stages, placed)

    row = stages.rows[order.order_id]
    assert row.status is Stage.DISPATCHED
    assert row.stamps[Stage.PLACED] == PLACED_AT
    assert row.details["customer_id"] == order.customer.customer_id


async def test_a_repeated_event_keeps_the_first_time(stages: FakeOrderStages) -> None:
    order = an_order()
    placed, confirmed, paid, *_ = lifecycle(order)
    await record(stages, placed, confirmed, paid)

    await record(stages, paid.model_copy(update={"occurred_at": PLACED_AT + 9 * MINUTE}))

    assert stages.rows[order.order_id].stamps[Stage.PAID] == PLACED_AT + 2 * MINUTE
