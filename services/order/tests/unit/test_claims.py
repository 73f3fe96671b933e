"""Claims on the order's saga: support settles a parcel lost or damaged in transit with a
reshipment (no new payment) or a refund; every answer of the replacement carries it on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from orderly_dev.checkout import make_order
from orderly_order.domain.claims import ClaimStatus, follows
from orderly_order.domain.order import Compensation, Order, OrderStateError, Status, Timeouts
from orderly_schemas.inventory import ShipReplacement
from orderly_schemas.order import ClaimResolution, OrderClaimed, OrderReshipped
from orderly_schemas.payment import RefundPayment

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T = Timeouts(
    reply=timedelta(seconds=30),
    max_resends=2,
    compensation=timedelta(seconds=40),
    delivery=timedelta(days=10),
    auto_complete=timedelta(seconds=5),
)
CLAIM = UUID("8d9e0f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a")
REPLACEMENT = UUID("3f4a5b6c-7d8e-4f9a-8b1c-2d3e4f5a6b7c")


def lost() -> Order:
    """A shipped order whose parcel failed in transit: it needs attention."""
    order = Order.place(make_order(), order_number="ORD-0000001", now=NOW, timeouts=T)
    order.stock_reserved(NOW, T)
    order.payment_captured("pay_1", order.total, NOW, T)
    order.shipped("SimPost", ["SP123"], NOW, T)
    order.shipment_failed("parcel SP123 lost", NOW, T)
    order.messages.clear()
    order.changes.clear()
    return order


def settle(order: Order, resolution: ClaimResolution, *, claim: UUID = CLAIM) -> None:
    order.settle_claim(
        claim_id=claim,
        claim_number="CLM-0000001",
        kind="lost",
        resolution=resolution,
        opened_by="agent-7",
        replacement_id=REPLACEMENT if resolution == "reshipment" else None,
        now=NOW,
        timeouts=T,
    )


def status_of(order: Order) -> Status:
    return order.status


def test_a_reshipment_asks_inventory_for_the_same_lines_and_leaves_needs_attention() -> None:
    order = lost()
    settle(order, "reshipment")
    assert order.status is Status.RESHIPPING
    claimed, ship = order.messages
    assert isinstance(claimed, OrderClaimed)
    assert (claimed.kind, claimed.resolution, claimed.carrier) == ("lost", "reshipment", "SimPost")
    assert isinstance(ship, ShipReplacement)
    assert ship.replacement_id == REPLACEMENT
    assert [(s.sku, s.quantity) for s in ship.lines] == [
        (line.sku, line.quantity) for line in order.lines
    ]
    assert ship.ship_to == order.shipping_address
    assert order.deadline_at == NOW + T.reply
    assert follows(order.status) is ClaimStatus.RESHIPPING


def test_the_replacement_shipped_then_delivered_completes_like_any_order() -> None:
    order = lost()
    settle(order, "reshipment")
    order.messages.clear()
    assert order.replacement_shipped(REPLACEMENT, "SimPost", ["SR1", "SR2"], NOW, T)
    assert order.status is Status.SHIPPED
    assert order.tracking_numbers == ["SR1", "SR2"]
    (reshipped,) = order.messages
    assert isinstance(reshipped, OrderReshipped)
    assert reshipped.tracking_numbers == ["SR1", "SR2"]
    assert order.deadline_at == NOW + T.delivery
    assert not order.replacement_shipped(REPLACEMENT, "SimPost", ["SR1"], NOW, T)  # once
    assert not order.replacement_delivered(uuid4(), NOW, NOW, T)  # another replacement
    assert order.replacement_delivered(REPLACEMENT, NOW, NOW, T)
    assert status_of(order) is Status.DELIVERED
    assert follows(order.status) is ClaimStatus.DELIVERED


def test_a_refused_replacement_falls_back_to_a_full_refund_without_releasing_stock() -> None:
    order = lost()
    settle(order, "reshipment")
    order.messages.clear()
    assert not order.replacement_refused(uuid4(), "short", NOW, T)
    assert order.replacement_refused(REPLACEMENT, "insufficient stock", NOW, T)
    assert order.status is Status.CANCELLING
    assert order.pending == {Compensation.REFUND_PAYMENT}
    refund = next(m for m in order.messages if isinstance(m, RefundPayment))
    assert refund.refund_id == f"claim:{CLAIM}"
    assert refund.amount == order.total
    assert [m.message_type() for m in order.messages] == ["RefundPayment", "OrderCancelled"]
    assert order.refund_settled(f"claim:{CLAIM}", NOW)
    assert status_of(order) is Status.CANCELLED
    assert follows(order.status) is ClaimStatus.REFUNDED


def test_a_refund_claim_refunds_in_full_and_a_failed_refund_is_asked_again_anew() -> None:
    order = lost()
    settle(order, "refund")
    assert order.status is Status.CANCELLING
    assert [m.message_type() for m in order.messages] == [
        "OrderClaimed",
        "RefundPayment",
        "OrderCancelled",
    ]
    assert order.refund_failed(f"claim:{CLAIM}", "provider down", 5, NOW)
    assert status_of(order) is Status.NEEDS_ATTENTION
    assert not order.claimable()  # money is at stake: retried, not claimed again
    order.messages.clear()
    (again,) = order.retry_current_step(NOW, T)
    assert isinstance(again, RefundPayment)
    assert again.refund_id == f"claim:{CLAIM}#2"
    assert order.refund_settled(f"claim:{CLAIM}#2", NOW)
    assert status_of(order) is Status.CANCELLED


def test_a_replacement_lost_too_needs_attention_and_a_new_claim_may_settle_it() -> None:
    order = lost()
    settle(order, "reshipment")
    order.replacement_shipped(REPLACEMENT, "SimPost", ["SR1"], NOW, T)
    assert order.replacement_failed(REPLACEMENT, "lost again", NOW)
    assert order.status is Status.NEEDS_ATTENTION
    assert order.claimable()
    settle(order, "refund", claim=uuid4())
    assert status_of(order) is Status.CANCELLING


def test_an_unanswered_reshipment_is_sent_again_then_needs_attention_and_a_late_answer_counts() -> (
    None
):
    order = lost()
    settle(order, "reshipment")
    order.messages.clear()
    assert order.deadline_passed(NOW + T.reply, T)
    assert [m.message_type() for m in order.messages] == ["ShipReplacement"]
    assert order.deadline_passed(NOW + 2 * T.reply, T)
    assert order.deadline_passed(NOW + 3 * T.reply, T)
    assert order.status is Status.NEEDS_ATTENTION
    assert order.cancel_reason is None  # nothing compensated: the goods may still leave
    assert order.replacement_shipped(REPLACEMENT, "SimPost", ["SR1"], NOW, T)
    assert status_of(order) is Status.SHIPPED


def test_a_queued_reshipment_waits_again_without_resending() -> None:
    order = lost()
    settle(order, "reshipment")
    order.messages.clear()
    assert order.deadline_passed(NOW + T.reply, T, queued=True)
    assert order.messages == []
    assert order.resends == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: Order.place(make_order(), order_number="ORD-0000002", now=NOW, timeouts=T),
        lambda: _delivered(),
    ],
    ids=["confirmed", "delivered"],
)
def test_only_an_order_that_needs_attention_after_shipping_can_be_claimed(make) -> None:  # type: ignore[no-untyped-def]
    order = make()
    with pytest.raises(OrderStateError, match="needs attention"):
        settle(order, "refund")


def test_a_reshipping_order_cannot_be_cancelled() -> None:
    order = lost()
    settle(order, "reshipment")
    with pytest.raises(OrderStateError, match="left the warehouse"):
        order.cancel(reason="changed my mind", now=NOW, timeouts=T)


def _delivered() -> Order:
    order = lost()
    settle(order, "reshipment")
    order.replacement_shipped(REPLACEMENT, "SimPost", ["SR1"], NOW, T)
    order.replacement_delivered(REPLACEMENT, NOW, NOW, T)
    return order
