"""The order saga as a state machine: each step, each compensation, each deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderly_dev.checkout import make_order
from orderly_order.domain.order import Compensation, Order, OrderStateError, Status, Timeouts
from orderly_schemas.base import Money
from orderly_schemas.payment import RefundPayment

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T = Timeouts(
    reply=timedelta(seconds=30),
    max_resends=2,
    compensation=timedelta(seconds=40),
    delivery=timedelta(days=10),
    auto_complete=timedelta(seconds=5),
)


def placed() -> Order:
    return Order.place(make_order(), order_number="ORD-0000001", now=NOW, timeouts=T)


def reserved() -> Order:
    order = placed()
    order.stock_reserved(NOW, T)
    return order


def paid() -> Order:
    order = reserved()
    order.payment_captured("pay_1", order.total, NOW, T)
    return order


def shipped() -> Order:
    order = paid()
    order.shipped("SimPost", ["SP123"], NOW, T)
    return order


def status_of(order: Order) -> Status:
    """The status, read through a call so that type narrowing forgets earlier asserts."""
    return order.status


def types(order: Order) -> list[str]:
    return [m.message_type() for m in order.messages]


def fresh(order: Order) -> Order:
    order.messages.clear()
    order.changes.clear()
    return order


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


# -- the happy path -----------------------------------------------------------------
def test_placing_confirms_the_order_asks_for_stock_and_sets_a_deadline() -> None:
    order = placed()
    assert order.status is Status.CONFIRMED
    assert types(order) == ["OrderConfirmed", "ReserveStock"]
    assert [c.status for c in order.changes] == [Status.CONFIRMED]
    assert order.deadline_at == NOW + T.reply


def test_happy_path_walks_every_state_and_publishes_each_step() -> None:
    order = fresh(placed())
    assert order.stock_reserved(NOW, T)
    assert order.payment_captured("pay_1", order.total, NOW, T)
    assert order.shipped("SimPost", ["SP123"], NOW, T)
    assert order.deadline_at == NOW + T.delivery
    assert order.delivered(NOW, NOW, T)
    assert order.auto_complete_at == order.deadline_at == NOW + T.auto_complete
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
    assert order.deadline_at is None


def test_the_auto_confirm_deadline_completes_a_delivered_order() -> None:
    order = shipped()
    order.delivered(NOW, NOW, T)
    fresh(order)
    assert not order.deadline_passed(later(4), T)
    assert order.deadline_passed(later(5), T)
    assert order.status is Status.COMPLETED
    assert order.changes[-1].reason == "confirmed by auto-confirm"


# -- failures and compensations ---------------------------------------------------
def test_short_stock_rejects_with_the_reason_and_no_compensation() -> None:
    order = fresh(placed())
    assert order.stock_reservation_failed("DEMO-SOLDOUT is short by 1", NOW)
    assert order.status is Status.REJECTED
    assert order.changes[-1].reason == "DEMO-SOLDOUT is short by 1"
    assert types(order) == ["OrderRejected"]
    assert order.deadline_at is None


def test_declined_payment_releases_stock_then_cancels_on_the_acknowledgement() -> None:
    order = fresh(reserved())
    assert order.payment_failed("card declined", NOW, T)
    assert order.status is Status.CANCELLING
    assert types(order) == ["ReleaseStock", "OrderCancelled"]
    assert order.pending == {Compensation.RELEASE_STOCK}
    assert order.stock_released(NOW, T)
    assert status_of(order) is Status.CANCELLED
    assert order.deadline_at is None
    assert order.changes[-1].reason == "payment failed: card declined"


def test_failed_shipment_refunds_in_full_and_releases_stock() -> None:
    order = fresh(paid())
    assert order.shipment_failed("carrier refused", NOW, T)
    refund, release, cancelled = order.messages
    assert isinstance(refund, RefundPayment)
    assert refund.amount == order.total
    assert refund.refund_id == f"{order.order_id}:cancel"
    assert (release.message_type(), cancelled.message_type()) == ("ReleaseStock", "OrderCancelled")
    assert order.pending == {Compensation.RELEASE_STOCK, Compensation.REFUND_PAYMENT}


def test_cancelled_only_when_every_compensation_is_acknowledged_in_any_order() -> None:
    order = paid()
    order.shipment_failed("carrier refused", NOW, T)
    assert order.refund_settled(f"{order.order_id}:cancel", NOW)
    assert order.status is Status.CANCELLING
    assert not order.refund_settled(f"{order.order_id}:cancel", NOW)  # a repeat
    assert order.stock_released(NOW, T)
    assert status_of(order) is Status.CANCELLED


def test_a_refund_that_failed_for_good_needs_attention_and_release_still_completes() -> None:
    order = paid()
    order.shipment_failed("carrier refused", NOW, T)
    fresh(order)
    assert not order.refund_failed("someone-else", "x", 1, NOW)
    assert order.refund_failed(f"{order.order_id}:cancel", "rejected by provider", 5, NOW)
    assert order.status is Status.NEEDS_ATTENTION
    (attention,) = order.messages
    assert attention.message_type() == "OrderNeedsAttention"
    assert attention.reason == "refund failed after 5 attempt(s): rejected by provider"  # type: ignore[attr-defined]
    assert attention.amount == order.total  # type: ignore[attr-defined]
    assert order.stock_released(NOW, T)  # the other compensation is not held back
    assert order.pending == set()
    assert order.status is Status.NEEDS_ATTENTION


def test_reservation_expiry_before_payment_voids_or_refunds_and_releases() -> None:
    order = fresh(reserved())
    assert order.reservation_expired("older than 1800s", NOW, T)
    assert order.status is Status.CANCELLING
    assert types(order) == ["RefundPayment", "ReleaseStock", "OrderCancelled"]


def test_a_repeated_or_late_reply_changes_nothing() -> None:
    order = fresh(reserved())
    assert not order.stock_reserved(NOW, T)
    assert not order.stock_reservation_failed("late", NOW)
    assert not order.shipped("SimPost", ["SP1"], NOW, T)
    assert not order.stock_released(NOW, T)
    assert not order.refund_settled("any", NOW)
    assert order.messages == []
    assert order.changes == []
    assert order.status is Status.RESERVED


def test_a_capture_answered_after_cancellation_is_ignored() -> None:
    order = reserved()
    order.cancel(reason="changed my mind", now=NOW, timeouts=T)
    fresh(order)
    assert not order.payment_captured("pay_late", order.total, NOW, T)
    assert order.messages == []  # the RefundPayment already sent follows the capture


# -- customer cancellation --------------------------------------------------------
def test_cancel_before_stock_is_reserved_only_releases() -> None:
    order = fresh(placed())
    assert order.cancel(reason="changed my mind", now=NOW, timeouts=T)
    assert types(order) == ["ReleaseStock", "OrderCancelled"]
    assert order.cancel_reason == "changed my mind"


def test_cancel_before_capture_voids_or_refunds_and_releases_at_once() -> None:
    order = fresh(reserved())
    assert order.cancel(reason="changed my mind", now=NOW, timeouts=T)
    assert types(order) == ["RefundPayment", "ReleaseStock", "OrderCancelled"]


def test_cancel_after_capture_refunds_once_the_stock_is_back() -> None:
    order = fresh(paid())
    assert order.cancel(reason="changed my mind", now=NOW, timeouts=T)
    # ShipOrder went out: until the release is confirmed the goods might still ship.
    assert types(order) == ["ReleaseStock"]
    assert order.pending == {Compensation.RELEASE_STOCK, Compensation.REFUND_AFTER_RELEASE}
    fresh(order)
    assert order.stock_released(NOW, T)
    assert types(order) == ["RefundPayment", "OrderCancelled"]
    assert order.pending == {Compensation.REFUND_PAYMENT}
    assert order.refund_settled(f"{order.order_id}:cancel", NOW)
    assert status_of(order) is Status.CANCELLED


def test_a_shipment_that_overtook_the_cancel_ships_the_order_and_refunds_nothing() -> None:
    order = paid()
    order.cancel(reason="changed my mind", now=NOW, timeouts=T)
    fresh(order)
    assert order.shipped("SimPost", ["SP9"], NOW, T)
    assert status_of(order) is Status.SHIPPED
    assert types(order) == ["OrderDispatched"]
    assert "request a return" in (order.changes[-1].reason or "")
    assert order.pending == set()
    assert not order.stock_released(NOW, T)  # the no-op release that follows


def test_cancelling_twice_is_one_cancellation() -> None:
    order = paid()
    assert order.cancel(reason="first", now=NOW, timeouts=T)
    fresh(order)
    assert not order.cancel(reason="second", now=NOW, timeouts=T)
    assert order.messages == []
    assert order.changes == []
    assert order.cancel_reason == "first"


@pytest.mark.parametrize("delivered", [False, True])
def test_cancel_after_shipment_is_refused_and_points_to_returns(delivered: bool) -> None:
    order = shipped()
    if delivered:
        order.delivered(NOW, NOW, T)
    with pytest.raises(OrderStateError, match="request a return"):
        order.cancel(reason="too late", now=NOW, timeouts=T)


def test_cancel_of_a_rejected_order_is_refused() -> None:
    order = placed()
    order.stock_reservation_failed("short", NOW)
    with pytest.raises(OrderStateError, match="rejected and cannot be cancelled"):
        order.cancel(reason="x", now=NOW, timeouts=T)


# -- deadlines ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "command"),
    [(placed, "ReserveStock"), (reserved, "CapturePayment"), (paid, "ShipOrder")],
)
def test_an_unanswered_command_is_resent_then_the_saga_compensates(
    make: object, command: str
) -> None:
    order = fresh(make())  # type: ignore[operator]
    assert not order.deadline_passed(later(29), T)
    assert order.deadline_passed(later(30), T)
    assert order.deadline_passed(later(60), T)
    assert types(order) == [command, command]
    assert order.resends == 2
    fresh(order)
    assert order.deadline_passed(later(90), T)
    assert order.status is Status.CANCELLING
    assert "after 2 re-sends" in (order.cancel_reason or "")
    expected = {
        "ReserveStock": ["ReleaseStock", "OrderCancelled"],
        "CapturePayment": ["RefundPayment", "ReleaseStock", "OrderCancelled"],
        "ShipOrder": ["ReleaseStock"],  # the refund waits for the stock to be back
    }[command]
    assert types(order) == expected
    assert order.resends == 0
    assert order.deadline_at == later(90) + T.compensation


@pytest.mark.parametrize("make", [placed, reserved, paid])
def test_a_command_still_queued_is_neither_resent_nor_compensated(make: object) -> None:
    order = fresh(make())  # type: ignore[operator]
    for waited in (30, 60, 90, 120):
        assert order.deadline_passed(later(waited), T, queued=True)
        assert order.deadline_at == later(waited) + T.reply
    assert types(order) == []
    assert order.resends == 0
    assert order.status is make().status  # type: ignore[operator]
    # Once the queue says the command was read and nothing came back, the count starts.
    assert order.deadline_passed(later(150), T)
    assert order.resends == 1


def test_a_queue_does_not_hold_the_delivery_and_auto_confirm_deadlines() -> None:
    order = shipped()
    order.delivered(NOW, NOW, T)
    fresh(order)
    assert order.deadline_passed(later(5), T, queued=True)
    assert order.status is Status.COMPLETED


def test_an_answer_restarts_the_clock_and_the_count() -> None:
    order = placed()
    order.deadline_passed(later(30), T)
    order.stock_reserved(later(31), T)
    assert order.resends == 0
    assert order.deadline_at == later(31) + T.reply


def test_unanswered_compensations_are_resent_then_need_attention() -> None:
    order = paid()
    order.shipment_failed("carrier refused", NOW, T)
    order.stock_released(NOW, T)
    fresh(order)
    assert not order.deadline_passed(later(30), T)  # compensations get longer than replies
    assert order.deadline_passed(later(40), T)
    assert types(order) == ["RefundPayment"]  # only what is still pending
    order.deadline_passed(later(80), T)
    fresh(order)
    assert order.deadline_passed(later(120), T)
    assert order.status is Status.NEEDS_ATTENTION
    assert order.changes[-1].reason == ("compensations unanswered after 2 re-sends: refund_payment")


def test_a_parcel_failing_in_transit_needs_attention_without_compensating() -> None:
    order = fresh(shipped())
    assert order.shipment_failed("parcel SP123 from warehouse east failed in transit", NOW, T)
    assert order.status is Status.NEEDS_ATTENTION
    assert order.deadline_at is None
    (attention,) = order.messages  # no refund, no release: the goods have left
    assert attention.message_type() == "OrderNeedsAttention"
    assert attention.reason == (  # type: ignore[attr-defined]
        "shipment failed in transit: parcel SP123 from warehouse east failed in transit"
    )
    assert attention.amount is None  # type: ignore[attr-defined]
    assert not order.shipment_failed("another parcel failed", NOW, T)  # flagged once
    assert not order.delivered(NOW, NOW, T)


def test_an_order_shipped_in_parcels_is_dispatched_with_every_tracking_number() -> None:
    order = fresh(paid())
    assert order.shipped("SimPost", ["SP1", "SP2"], NOW, T)
    (dispatched,) = order.messages
    assert dispatched.tracking_numbers == ["SP1", "SP2"]  # type: ignore[attr-defined]
    assert order.tracking_numbers == ["SP1", "SP2"]


def test_a_shipment_never_delivered_needs_attention() -> None:
    order = fresh(shipped())
    assert order.deadline_passed(NOW + T.delivery, T)
    assert order.status is Status.NEEDS_ATTENTION
    assert order.messages[-1].amount is None  # type: ignore[attr-defined]


# -- operator actions ---------------------------------------------------------------
def test_retrying_a_refund_that_failed_uses_a_new_refund_id() -> None:
    order = paid()
    order.shipment_failed("carrier refused", NOW, T)
    order.stock_released(NOW, T)
    order.refund_failed(f"{order.order_id}:cancel", "rejected", 5, NOW)
    fresh(order)
    (refund,) = order.retry_current_step(NOW, T)
    assert isinstance(refund, RefundPayment)
    assert refund.refund_id == f"{order.order_id}:cancel:2"
    assert order.status is Status.CANCELLING
    assert order.refund_settled(f"{order.order_id}:cancel:2", NOW)
    assert status_of(order) is Status.CANCELLED


def test_retrying_a_waiting_step_resends_its_command() -> None:
    order = fresh(paid())
    assert [m.message_type() for m in order.retry_current_step(later(10), T)] == ["ShipOrder"]
    assert order.deadline_at == later(10) + T.reply


def test_nothing_to_retry_after_shipment_or_completion() -> None:
    with pytest.raises(OrderStateError, match="no step to retry"):
        shipped().retry_current_step(NOW, T)


def test_forced_compensation_only_before_shipment() -> None:
    order = fresh(reserved())
    order.force_compensation(reason="fraud suspected", now=NOW, timeouts=T)
    assert types(order) == ["RefundPayment", "ReleaseStock", "OrderCancelled"]
    with pytest.raises(OrderStateError, match="only an order awaiting"):
        shipped().force_compensation(reason="x", now=NOW, timeouts=T)


# -- receipt ----------------------------------------------------------------------------
def test_receipt_cannot_be_confirmed_before_delivery() -> None:
    order = placed()
    with pytest.raises(OrderStateError, match="only a delivered order"):
        order.complete(confirmed_by="customer", now=NOW)


def test_completing_twice_is_a_no_op() -> None:
    order = placed()
    order.stock_reserved(NOW, T)
    order.payment_captured("p", Money(amount=1, currency="EUR"), NOW, T)
    order.shipped("c", ["t"], NOW, T)
    order.delivered(NOW, NOW, T)
    assert order.complete(confirmed_by="auto-confirm", now=NOW)
    assert not order.complete(confirmed_by="customer", now=NOW)
