"""Each public lifecycle event has a customer-facing subject and body."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from orderly_notification.domain.money import format_money
from orderly_notification.domain.templates import render
from orderly_schemas.base import Money, OrderLine
from orderly_schemas.inventory import BackInStock, LowStockDetected, ReturnLine
from orderly_schemas.order import (
    OrderCancelled,
    OrderClaimed,
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
    OrderEvent,
    OrderNeedsAttention,
    OrderPaid,
    OrderRejected,
    OrderReshipped,
)
from orderly_schemas.returns import (
    ReturnApproved,
    ReturnCompleted,
    ReturnEvent,
    ReturnExpired,
    ReturnLabelIssued,
    ReturnNeedsAttention,
    ReturnReceived,
    ReturnRejected,
    ReturnReplacementShipped,
    ReturnReplacementUnavailable,
    ReturnRequested,
)
from orderly_schemas.support import CaseSlaBreached

AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
COMMON: dict[str, Any] = {
    "order_id": uuid4(),
    "order_number": "ORD-0000042",
    "customer_id": "C00001",
    "occurred_at": AT,
}


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


EVENTS: list[OrderEvent] = [
    OrderConfirmed(
        **COMMON,
        customer_email="ada@example.com",
        lines=[
            OrderLine(sku="DEMO-0001", quantity=2, unit_price=eur(1250)),
            OrderLine(sku="DEMO-0002", quantity=1, unit_price=eur(499)),
        ],
        total=eur(2999),
    ),
    OrderRejected(**COMMON, reason="DEMO-SOLDOUT is out of stock"),
    OrderCancelled(**COMMON, reason="payment failed: card declined by issuer"),
    OrderPaid(**COMMON, amount=eur(2999), payment_id="pay_1"),
    OrderDispatched(**COMMON, carrier="SimPost", tracking_numbers=["SP0001", "SP0002"]),
    OrderDelivered(**COMMON, delivered_at=AT),
    OrderCompleted(**COMMON, confirmed_by="customer"),
    OrderNeedsAttention(
        **COMMON, reason="refund failed after 5 attempt(s): rejected", amount=eur(2999)
    ),
    OrderClaimed(
        **COMMON,
        claim_id=uuid4(),
        claim_number="CLM-0000007",
        kind="lost",
        resolution="reshipment",
        carrier="SimPost",
        opened_by="agent-7",
    ),
    OrderReshipped(
        **COMMON,
        claim_id=uuid4(),
        replacement_id=uuid4(),
        carrier="SimPost",
        tracking_numbers=["SR0001"],
    ),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.message_type())
def test_every_message_names_the_order(event: OrderEvent) -> None:
    message = render(event)

    assert "ORD-0000042" in message.subject
    assert "ORD-0000042" in message.body


def test_each_event_has_its_own_template() -> None:
    templates = [render(e).template for e in EVENTS]

    assert templates == [
        "order_confirmed",
        "order_rejected",
        "order_cancelled",
        "order_paid",
        "order_dispatched",
        "order_delivered",
        "order_completed",
        "order_needs_attention",
        "order_claimed",
        "order_reshipped",
    ]


def test_the_confirmation_lists_the_lines_and_the_total() -> None:
    body = render(EVENTS[0]).body

    assert "2 x DEMO-0001 at EUR 12.50" in body
    assert "1 x DEMO-0002 at EUR 4.99" in body
    assert "Total: EUR 29.99" in body


def test_a_rejection_says_why_and_that_nothing_was_charged() -> None:
    body = render(EVENTS[1]).body

    assert "DEMO-SOLDOUT is out of stock" in body
    assert "not been charged" in body


def test_a_cancellation_says_why() -> None:
    assert "card declined by issuer" in render(EVENTS[2]).body


def test_the_payment_message_states_the_amount() -> None:
    assert "EUR 29.99" in render(EVENTS[3]).body


def test_the_dispatch_message_names_the_carrier_and_every_tracking_number() -> None:
    body = render(EVENTS[4]).body

    assert "SimPost" in body
    assert "Tracking numbers: SP0001, SP0002" in body


def test_the_delivery_message_says_when() -> None:
    assert "01 March 2026, 12:30 UTC" in render(EVENTS[5]).body


def test_finance_learns_why_how_much_and_how_to_retry() -> None:
    body = render(EVENTS[7]).body

    assert "refund failed after 5 attempt(s): rejected" in body
    assert "EUR 29.99" in body
    assert "sagas retry ORD-0000042" in body


def test_an_event_without_a_template_is_refused() -> None:
    class OrderRenamed(OrderEvent):
        pass

    with pytest.raises(LookupError, match="OrderRenamed"):
        render(OrderRenamed(**COMMON))


@pytest.mark.parametrize(
    ("money", "shown"),
    [
        (Money(amount=4999, currency="EUR"), "EUR 49.99"),
        (Money(amount=5, currency="EUR"), "EUR 0.05"),
        (Money(amount=0, currency="USD"), "USD 0.00"),
        (Money(amount=500, currency="JPY"), "JPY 500"),
        (Money(amount=1500, currency="KWD"), "KWD 1.500"),
    ],
)
def test_money_is_shown_in_major_units_of_its_currency(money: Money, shown: str) -> None:
    assert format_money(money) == shown


def test_the_warehouse_team_learns_which_sku_is_low_where_and_by_how_much() -> None:
    where = {"sku": "MUG-1", "warehouse": "east", "occurred_at": AT, "safety_stock": 10}

    low = render(LowStockDetected(**where, available=3))
    back = render(BackInStock(**where, available=12))

    assert (low.template, back.template) == ("low-stock", "back-in-stock")
    assert low.subject == "Low stock: MUG-1 at east (3 available)"
    assert "fell to 3, below its safety stock of 10, on 01 March 2026, 12:30 UTC" in low.body
    assert "GET /stock?warehouse=east&low_only=true" in low.body
    assert back.subject == "Back in stock: MUG-1 at east (12 available)"
    assert "is back at 12, at or above its safety stock of 10" in back.body


RETURN: dict[str, Any] = {
    **COMMON,
    "return_id": uuid4(),
    "return_number": "RMA-0000042",
    "lines": [{"sku": "DEMO-0001", "quantity": 2}],
    "reason": "no_longer_needed",
}
EXCHANGE: dict[str, Any] = {
    **RETURN,
    "resolution": "exchange",
    "replacement": [{"sku": "DEMO-0009", "quantity": 1}],
}
RETURN_EVENTS: list[ReturnEvent] = [
    ReturnRequested(**RETURN),
    ReturnApproved(**RETURN, approved_by="rule"),
    ReturnRejected(**RETURN, rejected_by="alice", rejection_reason="worn"),
    ReturnLabelIssued(
        **RETURN, carrier="SimPost", tracking_number="SR01", warehouse="east", expires_at=AT
    ),
    ReturnReceived(
        **RETURN,
        warehouse="east",
        received=[ReturnLine(sku="DEMO-0001", quantity=2, condition="damaged")],
    ),
    ReturnCompleted(**RETURN, refunded=eur(2250), restocking_fee=eur(250), refund_id="return:1"),
    ReturnExpired(**RETURN, expired_reason="the label was not used within 14 day(s)"),
    ReturnNeedsAttention(**RETURN, attention_reason="refund failed after 5 attempt(s): no"),
    ReturnReplacementShipped(
        **EXCHANGE, replacement_id=uuid4(), carrier="SimPost", tracking_numbers=["SR-X1"]
    ),
    ReturnReplacementUnavailable(**EXCHANGE, unavailable_reason="DEMO-0009 is out of stock"),
]


@pytest.mark.parametrize("event", RETURN_EVENTS, ids=lambda e: e.message_type())
def test_every_return_message_names_the_return_and_has_a_template_of_its_own(
    event: ReturnEvent,
) -> None:
    message = render(event)

    assert "RMA-0000042" in message.subject
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", event.message_type()).lower()
    assert message.template == snake


def test_a_completed_return_states_the_refund_and_the_fee_kept() -> None:
    body = render(RETURN_EVENTS[5]).body

    assert "We refunded EUR 22.50" in body
    assert "restocking fee of EUR 2.50" in body


def test_a_return_that_refunds_nothing_says_so() -> None:
    nothing = ReturnCompleted(**RETURN, refunded=eur(0), restocking_fee=eur(0))

    assert "No refund is due" in render(nothing).body


def test_the_label_message_gives_the_tracking_number_and_the_last_day() -> None:
    body = render(RETURN_EVENTS[3]).body

    assert "SR01" in body
    assert "01 March 2026, 12:30 UTC" in body


def test_a_claim_tells_the_customer_what_happened_and_what_we_do_naming_the_claim() -> None:
    reship, refund = (
        EVENTS[8],
        EVENTS[8].model_copy(update={"resolution": "refund", "kind": "damaged"}),
    )

    assert "CLM-0000007" in render(reship).subject
    assert "was lost on its way with SimPost" in render(reship).body
    assert "sending the same goods again, at no cost" in render(reship).body
    assert "arrived damaged" in render(refund).body
    assert "refunding the full amount" in render(refund).body
    assert "SR0001" in render(EVENTS[9]).body


def test_an_order_needing_attention_again_is_told_under_another_subject() -> None:
    again = EVENTS[7].model_copy(update={"occurred_at": datetime(2026, 3, 9, 8, 0, tzinfo=UTC)})

    assert render(again).subject != render(EVENTS[7]).subject


def test_an_exchange_tells_the_replacement_its_tracking_and_what_was_charged() -> None:
    shipped, unavailable = RETURN_EVENTS[8], RETURN_EVENTS[9]
    done = ReturnCompleted(**EXCHANGE, refunded=eur(0), restocking_fee=eur(0), charged=eur(600))

    assert "1 x DEMO-0009" in render(shipped).body
    assert "SR-X1" in render(shipped).body
    assert "DEMO-0009 is out of stock" in render(unavailable).body
    assert "no restocking fee" in render(unavailable).body
    assert "replacement is on its way" in render(done).body
    assert "price difference of EUR 6.00 was charged" in render(done).body


def test_a_missed_case_agreement_is_told_to_support_with_where_to_look() -> None:
    case_id = uuid4()
    missed = CaseSlaBreached(
        case_id=case_id,
        case_number="CS-0000009",
        category="payment",
        customer_id="C00001",
        sla="first_response",
        due_at=AT,
        occurred_at=AT,
    )

    message = render(missed)

    assert message.template == "case_sla_breached"
    assert "CS-0000009 missed its first response agreement" in message.subject
    assert f"GET /cases/{case_id}" in message.body
