"""The order use cases without a database: each saga step, its failures and its deadlines.

Every step runs in a unit of work of its own over orders kept in memory, as each
message would in its own transaction; what a step published is what the other
services would receive. ``tests/integration/test_orders.py`` runs the same
use cases on PostgreSQL (locking, numbering, the outbox).
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_dev.checkout import make_order
from orderly_dev.unit_of_work import FakeUnitOfWork
from orderly_kit.audit import Actor
from orderly_kit.clock import ManualClock
from orderly_order import use_cases
from orderly_order.adapters.repository import OperatorAction
from orderly_order.domain.order import Order, OrderStateError, Status, Timeouts
from orderly_schemas.base import Allocation, Message
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.inventory import (
    OrderShipped,
    Parcel,
    ShipmentDelivered,
    ShipmentFailed,
    StockReleased,
    StockReservationExpired,
    StockReservationFailed,
    StockReserved,
)
from orderly_schemas.payment import (
    PaymentCaptured,
    PaymentFailed,
    PaymentRefunded,
    PaymentVoided,
    RefundFailed,
)

T = Timeouts(
    reply=timedelta(seconds=30),
    max_resends=1,
    compensation=timedelta(minutes=5),
    delivery=timedelta(days=10),
    auto_complete=timedelta(days=7),
)


@dataclass(frozen=True)
class Entry:
    """One line of an order's timeline, as its status history keeps it."""

    status: str
    at: datetime
    reason: str | None = None


@dataclass
class FakeOrders:
    """``Orders`` in memory: each unit of work gets its own copy of an order, as from a row."""

    rows: dict[UUID, Order] = field(default_factory=dict)
    #: OrderPlaced published at POST /orders and not placed yet (in the outbox).
    in_flight: dict[UUID, list[OrderPlaced]] = field(default_factory=dict)
    history: dict[UUID, list[Entry]] = field(default_factory=dict)
    audit: list[OperatorAction] = field(default_factory=list)
    numbered: int = 0

    async def next_order_number(self) -> str:
        self.numbered += 1
        return f"ORD-{self.numbered:07d}"

    async def exists(self, order_id: UUID) -> bool:
        return order_id in self.rows

    async def get(self, order_id: UUID) -> Order | None:
        found = self.rows.get(order_id)
        return copy.deepcopy(found) if found else None

    async def add(self, order: Order) -> None:
        await self.save(order)

    async def save(self, order: Order) -> None:
        self.history.setdefault(order.order_id, []).extend(
            Entry(c.status.value, c.at, c.reason) for c in order.changes
        )
        order.changes.clear()
        self.rows[order.order_id] = copy.deepcopy(order)
        self.rows[order.order_id].messages = []

    async def hold_order_id(self, order_id: UUID) -> None:
        """One unit of work at a time here: nothing to wait for."""

    async def placed_in_flight(self, order_id: UUID) -> list[OrderPlaced]:
        return list(self.in_flight.get(order_id, []))

    async def claim_due(self, now: datetime, *, limit: int) -> list[Order]:
        due = [o for o in self.rows.values() if o.deadline_at and o.deadline_at <= now]
        due.sort(key=lambda o: o.deadline_at or now)
        return [copy.deepcopy(o) for o in due[:limit]]

    async def record_operator_action(self, action: OperatorAction) -> None:
        self.audit.append(action)

    async def outgoing(self, order: Order, message: Message) -> Message:
        """Unsealed here: sealing is the repository's (tests/integration/test_personal_data)."""
        return message

    def order(self, order_id: UUID) -> Order:
        return self.rows[order_id]

    def timeline(self, order_id: UUID) -> list[str]:
        return [entry.status for entry in self.history[order_id]]


@dataclass
class FakeCommandQueue:
    """A command queue in which the given orders' commands are still waiting."""

    waiting: set[UUID]

    async def still_waiting(self, session: AsyncSession, orders: Collection[UUID]) -> set[UUID]:
        return self.waiting & set(orders)


class Saga:
    """The order service's world: its orders, its clock and each message handled alone."""

    def __init__(self) -> None:
        self.orders = FakeOrders()
        self.clock = ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    def unit_of_work(self) -> FakeUnitOfWork[FakeOrders]:
        return FakeUnitOfWork(self.orders, clock=self.clock, service="order")

    def later(self, by: timedelta) -> None:
        self.clock.advance(by)

    # Arrangements: an order brought to a state by the messages that lead there.
    async def placed(self, event: OrderPlaced | None = None) -> OrderPlaced:
        event = event or make_order()
        await use_cases.orders.place_order(self.unit_of_work(), event, timeouts=T)
        return event

    async def submitted(self, event: OrderPlaced) -> bool:
        """``event`` sent to POST /orders: whether it was published (kept in flight)."""
        uow = self.unit_of_work()
        published = await use_cases.orders.submit_order(uow, event)
        for message in uow.published:
            assert isinstance(message, OrderPlaced)
            self.orders.in_flight.setdefault(message.order_id, []).append(message)
        return published

    async def reserved(self) -> OrderPlaced:
        event = await self.placed()
        await use_cases.orders.record_stock_reserved(
            self.unit_of_work(), stock_reserved(event, self.clock()), timeouts=T
        )
        return event

    async def paid(self) -> OrderPlaced:
        event = await self.reserved()
        await use_cases.orders.record_payment_captured(
            self.unit_of_work(), payment_captured(event, self.clock()), timeouts=T
        )
        return event

    async def shipped(self) -> OrderPlaced:
        event = await self.paid()
        await use_cases.orders.record_order_shipped(
            self.unit_of_work(), order_shipped(event, self.clock(), ["SP1"]), timeouts=T
        )
        return event

    async def delivered(self) -> OrderPlaced:
        event = await self.shipped()
        await use_cases.orders.record_shipment_delivered(
            self.unit_of_work(),
            ShipmentDelivered(
                order_id=event.order_id,
                occurred_at=self.clock(),
                shipment_id=uuid4(),
                tracking_number="SP1",
                delivered_at=self.clock(),
            ),
            timeouts=T,
        )
        return event

    async def cancel(self, event: OrderPlaced, reason: str = "changed my mind") -> None:
        await use_cases.orders.cancel_order(
            self.unit_of_work(), event.order_id, reason=reason, timeouts=T
        )

    def status(self, event: OrderPlaced) -> Status:
        return self.orders.order(event.order_id).status

    def timeline(self, event: OrderPlaced) -> list[str]:
        return self.orders.timeline(event.order_id)


@pytest.fixture
def saga() -> Saga:
    return Saga()


def stock_reserved(event: OrderPlaced, at: datetime) -> StockReserved:
    line = event.lines[0]
    return StockReserved(
        order_id=event.order_id,
        occurred_at=at,
        allocations=[Allocation(sku=line.sku, warehouse="east", quantity=line.quantity)],
    )


def payment_captured(event: OrderPlaced, at: datetime) -> PaymentCaptured:
    return PaymentCaptured(
        order_id=event.order_id,
        occurred_at=at,
        payment_id="pay_1",
        amount=event.total,
        provider_reference="sim_1",
    )


def order_shipped(event: OrderPlaced, at: datetime, tracking: Sequence[str]) -> OrderShipped:
    parcels = [
        Parcel(shipment_id=uuid4(), warehouse="east", carrier="SimPost", tracking_number=number)
        for number in tracking
    ]
    return OrderShipped(
        order_id=event.order_id,
        occurred_at=at,
        shipment_id=parcels[0].shipment_id,
        carrier="SimPost",
        tracking_number=tracking[0],
        parcels=parcels,
    )


def released(event: OrderPlaced, at: datetime) -> StockReleased:
    return StockReleased(order_id=event.order_id, occurred_at=at, reason="order cancelled")


def refund_id(event: OrderPlaced) -> str:
    return f"{event.order_id}:cancel"


async def test_a_placed_order_is_numbered_confirmed_and_asks_for_its_stock(saga: Saga) -> None:
    event = make_order()

    uow = saga.unit_of_work()
    await use_cases.orders.place_order(uow, event, timeouts=T)

    assert uow.published_types() == ["OrderConfirmed", "ReserveStock"]
    order = saga.orders.order(event.order_id)
    assert (order.order_number, order.status) == ("ORD-0000001", Status.CONFIRMED)
    assert order.deadline_at == saga.clock() + T.reply
    assert saga.timeline(event) == ["confirmed"]


async def test_an_order_placed_twice_is_accepted_once(saga: Saga) -> None:
    event = await saga.placed()

    uow = saga.unit_of_work()
    await use_cases.orders.place_order(uow, event, timeouts=T)

    assert uow.published == []
    assert list(saga.orders.rows) == [event.order_id]
    assert saga.timeline(event) == ["confirmed"]


async def test_the_same_order_re_stamped_by_its_producer_is_accepted_once(saga: Saga) -> None:
    event = await saga.placed()
    restamped = event.model_copy(update={"placed_at": event.placed_at + timedelta(seconds=5)})

    uow = saga.unit_of_work()
    await use_cases.orders.place_order(uow, restamped, timeouts=T)

    assert uow.published == []
    assert saga.timeline(event) == ["confirmed"]


async def test_another_order_under_a_taken_order_id_is_refused_naming_only_the_id(
    saga: Saga,
) -> None:
    event = await saga.placed()
    other = make_order(order_id=event.order_id)

    uow = saga.unit_of_work()
    with pytest.raises(use_cases.orders.OrderConflictError) as refused:
        await use_cases.orders.place_order(uow, other, timeouts=T)

    assert str(event.order_id) in str(refused.value)
    assert other.customer.name not in str(refused.value)
    assert uow.published == []
    assert saga.orders.order(event.order_id).total == event.total


async def test_an_order_placed_before_fingerprints_were_kept_takes_any_repeat_as_the_same(
    saga: Saga,
) -> None:
    event = await saga.placed()
    saga.orders.rows[event.order_id].placed_fingerprint = None

    uow = saga.unit_of_work()
    await use_cases.orders.place_order(uow, make_order(order_id=event.order_id), timeouts=T)

    assert uow.published == []


async def test_an_order_submitted_again_while_on_its_way_is_published_once(saga: Saga) -> None:
    event = make_order()

    assert await saga.submitted(event) is True
    assert await saga.submitted(event) is False
    with pytest.raises(use_cases.orders.OrderConflictError):
        await saga.submitted(make_order(order_id=event.order_id))
    assert len(saga.orders.in_flight[event.order_id]) == 1


async def test_an_order_submitted_once_placed_is_compared_with_the_order(saga: Saga) -> None:
    event = await saga.placed()

    assert await saga.submitted(event) is False
    with pytest.raises(use_cases.orders.OrderConflictError):
        await saga.submitted(make_order(order_id=event.order_id))
    assert saga.orders.in_flight == {}


async def test_reserved_stock_asks_for_the_payment(saga: Saga) -> None:
    event = await saga.placed()

    uow = saga.unit_of_work()
    await use_cases.orders.record_stock_reserved(
        uow, stock_reserved(event, saga.clock()), timeouts=T
    )

    assert uow.published_types() == ["CapturePayment"]
    assert saga.timeline(event) == ["confirmed", "reserved"]


async def test_stock_that_cannot_be_reserved_rejects_the_order(saga: Saga) -> None:
    event = await saga.placed()
    failed = StockReservationFailed(
        order_id=event.order_id, occurred_at=saga.clock(), reason="out of stock: SKU-1"
    )

    uow = saga.unit_of_work()
    await use_cases.orders.record_stock_reservation_failed(uow, failed)

    assert uow.published_types() == ["OrderRejected"]
    assert saga.status(event) is Status.REJECTED
    assert saga.orders.history[event.order_id][-1].reason == "out of stock: SKU-1"
    assert saga.orders.order(event.order_id).deadline_at is None


async def test_a_captured_payment_pays_the_order_and_asks_for_shipment(saga: Saga) -> None:
    event = await saga.reserved()

    uow = saga.unit_of_work()
    await use_cases.orders.record_payment_captured(
        uow, payment_captured(event, saga.clock()), timeouts=T
    )

    assert uow.published_types() == ["OrderPaid", "ShipOrder"]
    assert saga.orders.order(event.order_id).payment_id == "pay_1"
    assert saga.timeline(event) == ["confirmed", "reserved", "paid"]


async def test_a_failed_payment_releases_the_stock_and_cancels_the_order(saga: Saga) -> None:
    event = await saga.reserved()
    failed = PaymentFailed(order_id=event.order_id, occurred_at=saga.clock(), reason="declined")

    uow = saga.unit_of_work()
    await use_cases.orders.record_payment_failed(uow, failed, timeouts=T)

    assert uow.published_types() == ["ReleaseStock", "OrderCancelled"]
    assert saga.status(event) is Status.CANCELLING
    assert saga.orders.history[event.order_id][-1].reason == "payment failed: declined"


async def test_a_shipped_order_is_dispatched_with_every_parcels_tracking_number(
    saga: Saga,
) -> None:
    event = await saga.paid()

    uow = saga.unit_of_work()
    await use_cases.orders.record_order_shipped(
        uow, order_shipped(event, saga.clock(), ["SP1", "SP2"]), timeouts=T
    )

    assert uow.published_types() == ["OrderDispatched"]
    order = saga.orders.order(event.order_id)
    assert (order.status, order.carrier, order.tracking_numbers) == (
        Status.SHIPPED,
        "SimPost",
        ["SP1", "SP2"],
    )
    assert order.deadline_at == saga.clock() + T.delivery


async def test_a_shipment_that_fails_at_the_warehouse_refunds_and_releases(saga: Saga) -> None:
    event = await saga.paid()
    failed = ShipmentFailed(order_id=event.order_id, occurred_at=saga.clock(), reason="damaged")

    uow = saga.unit_of_work()
    await use_cases.orders.record_shipment_failed(uow, failed, timeouts=T)

    assert uow.published_types() == ["RefundPayment", "ReleaseStock", "OrderCancelled"]
    assert saga.status(event) is Status.CANCELLING


async def test_a_shipment_lost_in_transit_needs_a_person(saga: Saga) -> None:
    event = await saga.shipped()
    failed = ShipmentFailed(order_id=event.order_id, occurred_at=saga.clock(), reason="lost")

    uow = saga.unit_of_work()
    await use_cases.orders.record_shipment_failed(uow, failed, timeouts=T)

    assert uow.published_types() == ["OrderNeedsAttention"]
    assert saga.status(event) is Status.NEEDS_ATTENTION


async def test_a_reservation_expiring_before_payment_voids_and_releases(saga: Saga) -> None:
    event = await saga.reserved()
    expired = StockReservationExpired(
        order_id=event.order_id, occurred_at=saga.clock(), reason="held too long"
    )

    uow = saga.unit_of_work()
    await use_cases.orders.record_stock_reservation_expired(uow, expired, timeouts=T)

    assert uow.published_types() == ["RefundPayment", "ReleaseStock", "OrderCancelled"]
    assert saga.orders.history[event.order_id][-1].reason == (
        "stock reservation expired: held too long"
    )


async def test_a_delivered_order_waits_for_the_customer(saga: Saga) -> None:
    event = await saga.shipped()
    delivered = ShipmentDelivered(
        order_id=event.order_id,
        occurred_at=saga.clock(),
        shipment_id=uuid4(),
        tracking_number="SP1",
        delivered_at=saga.clock(),
    )

    uow = saga.unit_of_work()
    await use_cases.orders.record_shipment_delivered(uow, delivered, timeouts=T)

    assert uow.published_types() == ["OrderDelivered"]
    order = saga.orders.order(event.order_id)
    assert order.status is Status.DELIVERED
    assert order.auto_complete_at == saga.clock() + T.auto_complete


async def test_a_reply_that_comes_too_late_changes_nothing(saga: Saga) -> None:
    event = await saga.placed()
    await use_cases.orders.record_stock_reservation_failed(
        saga.unit_of_work(),
        StockReservationFailed(order_id=event.order_id, occurred_at=saga.clock(), reason="none"),
    )

    uow = saga.unit_of_work()
    await use_cases.orders.record_stock_reserved(
        uow, stock_reserved(event, saga.clock()), timeouts=T
    )

    assert uow.published == []
    assert saga.timeline(event) == ["confirmed", "rejected"]


async def test_a_reply_for_an_order_never_placed_is_refused(saga: Saga) -> None:
    stranger = make_order()

    with pytest.raises(LookupError, match="StockReserved for unknown order"):
        await use_cases.orders.record_stock_reserved(
            saga.unit_of_work(), stock_reserved(stranger, saga.clock()), timeouts=T
        )

    assert saga.orders.rows == {}


async def test_confirming_receipt_completes_a_delivered_order(saga: Saga) -> None:
    event = await saga.delivered()

    uow = saga.unit_of_work()
    order = await use_cases.orders.confirm_receipt(uow, event.order_id)

    assert order is not None
    assert uow.published_types() == ["OrderCompleted"]
    assert saga.timeline(event)[-2:] == ["delivered", "completed"]
    assert saga.orders.history[event.order_id][-1].reason == "confirmed by customer"


async def test_receipt_cannot_be_confirmed_before_delivery(saga: Saga) -> None:
    event = await saga.shipped()

    uow = saga.unit_of_work()
    with pytest.raises(OrderStateError, match="only a delivered order"):
        await use_cases.orders.confirm_receipt(uow, event.order_id)

    assert uow.published == []
    assert saga.status(event) is Status.SHIPPED


async def test_confirming_receipt_of_an_unknown_order_finds_nothing(saga: Saga) -> None:
    assert await use_cases.orders.confirm_receipt(saga.unit_of_work(), uuid4()) is None


async def test_a_cancelled_order_ends_once_its_stock_and_money_are_back(saga: Saga) -> None:
    event = await saga.reserved()
    cancel = saga.unit_of_work()
    await use_cases.orders.cancel_order(cancel, event.order_id, reason="too slow", timeouts=T)
    await use_cases.orders.record_stock_released(
        saga.unit_of_work(), released(event, saga.clock()), timeouts=T
    )

    uow = saga.unit_of_work()
    await use_cases.orders.record_payment_voided(
        uow,
        PaymentVoided(
            order_id=event.order_id,
            occurred_at=saga.clock(),
            refund_id=refund_id(event),
            reason="nothing captured",
        ),
    )

    assert cancel.published_types() == ["RefundPayment", "ReleaseStock", "OrderCancelled"]
    assert uow.published == []
    assert saga.timeline(event) == ["confirmed", "reserved", "cancelling", "cancelled"]
    assert saga.orders.order(event.order_id).deadline_at is None


async def test_an_order_cancelled_after_payment_refunds_only_once_the_stock_is_back(
    saga: Saga,
) -> None:
    event = await saga.paid()
    cancel = saga.unit_of_work()
    await use_cases.orders.cancel_order(cancel, event.order_id, reason="too slow", timeouts=T)

    uow = saga.unit_of_work()
    await use_cases.orders.record_stock_released(uow, released(event, saga.clock()), timeouts=T)
    await use_cases.orders.record_payment_refunded(
        saga.unit_of_work(),
        PaymentRefunded(
            order_id=event.order_id,
            occurred_at=saga.clock(),
            refund_id=refund_id(event),
            amount=event.total,
            provider_reference="sim_r",
        ),
    )

    # ShipOrder is out: the goods may still leave, so the money waits for the stock.
    assert cancel.published_types() == ["ReleaseStock"]
    assert uow.published_types() == ["RefundPayment", "OrderCancelled"]
    assert saga.status(event) is Status.CANCELLED


async def test_goods_that_leave_before_the_cancellation_arrives_ship_after_all(
    saga: Saga,
) -> None:
    event = await saga.paid()
    await saga.cancel(event)

    uow = saga.unit_of_work()
    await use_cases.orders.record_order_shipped(
        uow, order_shipped(event, saga.clock(), ["SP1"]), timeouts=T
    )

    assert uow.published_types() == ["OrderDispatched"]
    assert saga.timeline(event)[-2:] == ["cancelling", "shipped"]
    assert saga.orders.order(event.order_id).pending == set()


async def test_an_order_cannot_be_cancelled_once_it_has_shipped(saga: Saga) -> None:
    event = await saga.shipped()

    uow = saga.unit_of_work()
    with pytest.raises(OrderStateError, match="request a return instead"):
        await use_cases.orders.cancel_order(uow, event.order_id, reason="late", timeouts=T)

    assert uow.published == []
    assert saga.status(event) is Status.SHIPPED


async def test_a_cancel_by_support_is_audited_and_the_customers_own_is_not(saga: Saga) -> None:
    by_customer, by_support = await saga.paid(), await saga.paid()

    customers = saga.unit_of_work()
    await use_cases.orders.cancel_order(
        customers, by_customer.order_id, reason="changed my mind", timeouts=T
    )
    supports = saga.unit_of_work()
    await use_cases.orders.cancel_order(
        supports,
        by_support.order_id,
        reason="asked by phone",
        timeouts=T,
        staff=Actor("alice", "support"),
    )

    assert customers.audited == []
    [entry] = supports.audited
    assert (entry.actor, entry.roles, entry.action, entry.target) == (
        "alice",
        "support",
        "order.cancel",
        f"order:{by_support.order_id}",
    )
    assert entry.before == {"status": "paid"}
    assert entry.after == {"status": "cancelling", "reason": "asked by phone"}
    assert entry.at == saga.clock()


async def test_a_cancel_that_changes_nothing_is_not_audited(saga: Saga) -> None:
    event = await saga.paid()
    await saga.cancel(event)

    again = saga.unit_of_work()
    await use_cases.orders.cancel_order(
        again, event.order_id, reason="twice", timeouts=T, staff=Actor("alice", "support")
    )

    assert again.audited == []


async def test_cancelling_an_unknown_order_finds_nothing(saga: Saga) -> None:
    found = await use_cases.orders.cancel_order(
        saga.unit_of_work(), uuid4(), reason="who?", timeouts=T
    )
    assert found is None


async def test_a_refund_that_fails_for_good_leaves_the_order_to_a_person(saga: Saga) -> None:
    event = await saga.reserved()
    await saga.cancel(event)
    failed = RefundFailed(
        order_id=event.order_id,
        occurred_at=saga.clock(),
        refund_id=refund_id(event),
        amount=event.total,
        reason="provider down",
        attempts=5,
    )

    uow = saga.unit_of_work()
    await use_cases.orders.record_refund_failed(uow, failed)

    assert uow.published_types() == ["OrderNeedsAttention"]
    assert saga.status(event) is Status.NEEDS_ATTENTION
    assert saga.orders.history[event.order_id][-1].reason == (
        "refund failed after 5 attempt(s): provider down"
    )


async def test_nothing_is_done_before_a_deadline(saga: Saga) -> None:
    await saga.placed()
    saga.later(T.reply - timedelta(seconds=1))

    uow = saga.unit_of_work()
    acted_on = await use_cases.orders.process_due_deadlines(uow, timeouts=T)

    assert (acted_on, uow.published) == (0, [])


async def test_an_unanswered_stock_request_is_sent_again_when_its_wait_runs_out(
    saga: Saga,
) -> None:
    event = await saga.placed()
    saga.later(T.reply)

    uow = saga.unit_of_work()
    acted_on = await use_cases.orders.process_due_deadlines(uow, timeouts=T)

    assert acted_on == 1
    assert uow.published_types() == ["ReserveStock"]
    order = saga.orders.order(event.order_id)
    assert (order.status, order.resends) == (Status.CONFIRMED, 1)
    assert order.deadline_at == saga.clock() + T.reply


async def test_an_order_unanswered_after_its_resends_is_cancelled(saga: Saga) -> None:
    event = await saga.placed()
    saga.later(T.reply)
    await use_cases.orders.process_due_deadlines(saga.unit_of_work(), timeouts=T)
    saga.later(T.reply)

    uow = saga.unit_of_work()
    await use_cases.orders.process_due_deadlines(uow, timeouts=T)

    assert uow.published_types() == ["ReleaseStock", "OrderCancelled"]
    assert saga.timeline(event) == ["confirmed", "cancelling"]
    assert saga.orders.history[event.order_id][-1].reason == (
        "no answer to the stock reservation request after 1 re-sends"
    )


async def test_an_order_whose_commands_are_still_queued_waits_again(saga: Saga) -> None:
    event = await saga.placed()
    saga.later(T.reply)

    uow = saga.unit_of_work()
    acted_on = await use_cases.orders.process_due_deadlines(
        uow,
        timeouts=T,
        queue=FakeCommandQueue({event.order_id}),
    )

    assert (acted_on, uow.published) == (1, [])
    order = saga.orders.order(event.order_id)
    assert (order.resends, order.deadline_at) == (0, saga.clock() + T.reply)


async def test_a_delivered_order_completes_itself_after_the_auto_confirm_delay(
    saga: Saga,
) -> None:
    event = await saga.delivered()
    saga.later(T.auto_complete)

    uow = saga.unit_of_work()
    await use_cases.orders.process_due_deadlines(uow, timeouts=T)

    assert uow.published_types() == ["OrderCompleted"]
    assert saga.orders.history[event.order_id][-1].reason == "confirmed by auto-confirm"


async def test_a_parcel_never_delivered_needs_a_person(saga: Saga) -> None:
    event = await saga.shipped()
    saga.later(T.delivery)

    uow = saga.unit_of_work()
    await use_cases.orders.process_due_deadlines(uow, timeouts=T)

    assert uow.published_types() == ["OrderNeedsAttention"]
    assert saga.status(event) is Status.NEEDS_ATTENTION


async def test_due_orders_are_taken_earliest_first_one_batch_at_a_time(saga: Saga) -> None:
    first = await saga.placed()
    saga.later(timedelta(seconds=1))
    second = await saga.placed()
    saga.later(T.reply)

    uow = saga.unit_of_work()
    acted_on = await use_cases.orders.process_due_deadlines(uow, timeouts=T, batch=1)

    assert acted_on == 1
    assert saga.orders.order(first.order_id).resends == 1
    assert saga.orders.order(second.order_id).resends == 0


async def test_an_operator_forcing_compensation_is_audited(saga: Saga) -> None:
    event = await saga.reserved()

    uow = saga.unit_of_work()
    await use_cases.orders.force_compensation(
        uow, event.order_id, operator="ops-ann", reason="customer called", timeouts=T
    )

    assert uow.published_types() == ["RefundPayment", "ReleaseStock", "OrderCancelled"]
    assert saga.orders.audit == [
        OperatorAction(
            order_id=event.order_id,
            action="compensate",
            operator="ops-ann",
            reason="customer called",
            status_before=Status.RESERVED,
            status_after=Status.CANCELLING,
            messages_sent=["RefundPayment", "ReleaseStock", "OrderCancelled"],
        )
    ]
    [entry] = uow.audited
    assert (entry.actor, entry.roles, entry.action, entry.target) == (
        "ops-ann",
        "operator",
        "saga.compensate",
        f"order:{event.order_id}",
    )
    assert entry.before == {"status": "reserved"}
    assert entry.after == {
        "status": "cancelling",
        "reason": "customer called",
        "sent": ["RefundPayment", "ReleaseStock", "OrderCancelled"],
    }
