"""The order saga as a state machine: each step, what it publishes, and what it ignores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderly_dev.checkout import make_order
from orderly_order.domain.order import Order, OrderStateError, Status
from orderly_schemas.base import Money

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def placed() -> Order:
    return Order.place(make_order(), order_number="ORD-0000001", now=NOW)


def types(order: Order) -> list[str]:
    return [m.message_type() for m in order.messages]


def test_placing_confirms_the_order_and_asks_for_stock() -> None:
    order = placed()
    assert order.status is Status.CONFIRMED
    assert types(order) == ["OrderConfirmed", "ReserveStock"]
    assert [c.status for c in order.changes] == [Status.CONFIRMED]


def test_happy_path_walks_every_state_and_publishes_each_step() -> None:
    order = placed()
    order.messages.clear()
    assert order.stock_reserved(NOW)
    assert order.payment_captured("pay_1", order.total, NOW)
    assert order.shipped("SimPost", "SP123", NOW)
    assert order.delivered(NOW, timedelta(seconds=5), NOW)
    assert order.auto_complete_at == NOW + timedelta(seconds=5)
    assert order.complete(confirmed_by="customer", now=NOW)
    assert types(order) == [
        "CapturePayment",
        "OrderPaid",
        "ShipOrder",
        "OrderDispatched",
        "OrderDelivered",
        "OrderCompleted",
    ]
    assert order.status is Status.COMPLETED
    assert order.tracking_numbers == ["SP123"]
    assert order.auto_complete_at is None


def test_short_stock_rejects_with_the_reason() -> None:
    order = placed()
    assert order.stock_reservation_failed("DEMO-SOLDOUT is short by 1", NOW)
    assert order.status is Status.REJECTED
    assert order.changes[-1].reason == "DEMO-SOLDOUT is short by 1"
    assert types(order)[-1] == "OrderRejected"


def test_declined_payment_releases_stock_and_cancels() -> None:
    order = placed()
    order.stock_reserved(NOW)
    order.messages.clear()
    assert order.payment_failed("card declined", NOW)
    assert order.status is Status.CANCELLED
    assert types(order) == ["ReleaseStock", "OrderCancelled"]


def test_failed_shipment_refunds_in_full_and_releases_stock() -> None:
    order = placed()
    order.stock_reserved(NOW)
    order.payment_captured("pay_1", order.total, NOW)
    order.messages.clear()
    assert order.shipment_failed("carrier refused", NOW)
    refund, release, cancelled = order.messages
    assert refund.message_type() == "RefundPayment"
    assert refund.amount == order.total  # type: ignore[attr-defined]
    assert (release.message_type(), cancelled.message_type()) == ("ReleaseStock", "OrderCancelled")


def test_a_repeated_or_late_reply_changes_nothing() -> None:
    order = placed()
    order.stock_reserved(NOW)
    order.messages.clear()
    order.changes.clear()
    assert not order.stock_reserved(NOW)
    assert not order.stock_reservation_failed("late", NOW)
    assert not order.shipped("SimPost", "SP1", NOW)
    assert order.messages == []
    assert order.changes == []
    assert order.status is Status.RESERVED


def test_receipt_cannot_be_confirmed_before_delivery() -> None:
    order = placed()
    with pytest.raises(OrderStateError, match="only a delivered order"):
        order.complete(confirmed_by="customer", now=NOW)


def test_completing_twice_is_a_no_op() -> None:
    order = placed()
    order.stock_reserved(NOW)
    order.payment_captured("p", Money(amount=1, currency="EUR"), NOW)
    order.shipped("c", "t", NOW)
    order.delivered(NOW, timedelta(0), NOW)
    assert order.complete(confirmed_by="auto-confirm", now=NOW)
    assert not order.complete(confirmed_by="customer", now=NOW)
