"""Support's timeline of an order reads the other services' answers as those services
shape them: each answer here is built with the answering service's own response model,
so a change of theirs that the timeline would misread fails here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from orderly_inventory.queries.replacements import ReplacementRead
from orderly_inventory.queries.tracking import (
    ParcelLineRead,
    ParcelRead,
    ShipmentRead,
    TrackingEventRead,
)
from orderly_kit.pages import Page
from orderly_notification.queries.notifications import NotificationRead
from orderly_order.adapters.neighbours import Read, reads_of
from orderly_order.queries.claims import ClaimShown
from orderly_order.queries.orders import CustomerRead, OrderRead, PaymentShown, StatusChangeRead
from orderly_order.queries.returns import ReturnRead, ReturnStep
from orderly_order.queries.timeline import assemble
from orderly_payment.queries.payments import LedgerEntryRead, PaymentRead
from orderly_schemas.base import Money, OrderLine, StockLine
from orderly_support.queries.cases import CaseSummary, SlaRead

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORDER_ID = UUID("0b6f3c1e-5d7a-4f0e-9a51-2c8d4e6f7a90")
SECRET_WORDS = ("Ada Lovelace", "ada@example.com", "12 Analytical Way")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def order() -> OrderRead:
    history = [("confirmed", 0), ("reserved", 1), ("paid", 2), ("shipped", 3)]
    return OrderRead(
        order_id=ORDER_ID,
        order_number="ORD-0000042",
        status="needs_attention",
        customer=CustomerRead(customer_id="C1", name="Ada Lovelace", email="ada@example.com"),
        lines=[OrderLine(sku="MUG-1", quantity=2, unit_price=eur(1299))],
        total=eur(2598),
        shipping_address=None,
        payment_method="card",
        payment=PaymentShown(method="card", brand="visa", last4="4242"),
        carrier="SimPost",
        tracking_numbers=["SP1"],
        placed_at=T0,
        delivered_at=None,
        auto_complete_at=None,
        awaiting=None,
        deadline_at=None,
        pending_compensations=[],
        cancel_reason=None,
        updated_at=at(60),
        status_history=[
            *(StatusChangeRead(status=s, at=at(m), reason=None) for s, m in history),
            StatusChangeRead(status="needs_attention", at=at(60), reason="shipment failed"),
        ],
        returns=[],
        claims=[
            ClaimShown(
                claim_id=uuid4(),
                claim_number="CLM-0000001",
                kind="lost",
                resolution="refund",
                status="refunding",
                opened_at=at(61),
            )
        ],
    )


def answers() -> dict[str, Read]:
    parcel = ParcelRead(
        shipment_id=uuid4(),
        warehouse="east",
        carrier="SimPost",
        tracking_number="SP1",
        status="failed",
        shipped_at=at(3),
        expected_delivery_at=None,
        status_at=at(50),
        status_detail="no such address",
        delivered_at=None,
        lines=[ParcelLineRead(sku="MUG-1", quantity=2)],
        tracking=[
            TrackingEventRead(status="in_transit", occurred_at=at(10), detail=None),
            TrackingEventRead(status="failed", occurred_at=at(50), detail="no such address"),
        ],
    )
    shipment = ShipmentRead(
        order_id=ORDER_ID,
        shipment_id=parcel.shipment_id,
        carrier="SimPost",
        tracking_number="SP1",
        status="failed",
        shipped_at=at(3),
        delivered_at=None,
        parcels=[parcel],
    )
    ledger = [
        _ledger("capture", "succeeded", 2598, at(2)),
        _ledger("refund", "succeeded", 2598, at(62), refund_id="claim:1"),
    ]
    payment = PaymentRead.model_validate(_payment_fields() | {"ledger": ledger, "refunds": []})
    notification = NotificationRead(
        notification_id=uuid4(),
        order_id=ORDER_ID,
        event_type="OrderClaimed",
        template="order_claimed",
        channel="log",
        recipient="customer:C1",
        subject="We are refunding order ORD-0000042 (CLM-0000001)",
        body="Dear Ada Lovelace, ...",
        status="sent",
        failure_reason=None,
        source_message_id="m1",
        created_at=at(61),
    )
    case = CaseSummary.model_validate(
        {
            "case_id": uuid4(),
            "case_number": "CS-0000003",
            "category": "delivery",
            "subject": "Ada Lovelace: parcel never came to 12 Analytical Way",
            "status": "closed",
            "customer_id": "C1",
            "order_id": ORDER_ID,
            "order_number": "ORD-0000042",
            "return_id": None,
            "claim_id": None,
            "assignee": "alice",
            "opened_by": "C1",
            "opened_at": at(55),
            "updated_at": at(70),
            "closed_at": at(70),
            "satisfaction": 4,
            "sla": SlaRead(
                first_response_due_at=at(60),
                first_responded_at=at(56),
                first_response_breached_at=None,
                resolution_due_at=at(600),
                resolution_paused_since=None,
                resolution_paused_seconds=0,
                resolved_at=at(65),
                resolution_breached_at=None,
            ),
        }
    )
    replacement = ReplacementRead.model_validate(
        {
            "replacement_id": uuid4(),
            "order_id": ORDER_ID,
            "status": "shipped",
            "reason": "claim CLM-0000001",
            "lines": [ParcelLineRead(sku="MUG-1", quantity=2)],
            "requested_at": at(61),
            "updated_at": at(62),
            "due_at": None,
            "refusal": None,
            "short_skus": [],
            "parcels": [
                parcel.model_copy(
                    update={"tracking_number": "SR2", "shipped_at": at(62), "tracking": []}
                )
            ],
        }
    )
    return {
        "shipment": Read(body=shipment.model_dump(mode="json")),
        "replacements": Read(body=Page(items=[replacement], next=None).model_dump(mode="json")),
        "payment": Read(body=payment.model_dump(mode="json")),
        "notifications": Read(body=[notification.model_dump(mode="json")]),
        "cases": Read(body=Page(items=[case], next=None).model_dump(mode="json")),
        "feedback": Read(problem="support: ConnectTimeout"),
    }


def _ledger(kind: str, status: str, amount: int, when: datetime, **more: Any) -> LedgerEntryRead:
    """A ledger entry; any field not named here (one the payment service adds) None."""
    fields: dict[str, Any] = dict.fromkeys(LedgerEntryRead.model_fields) | {
        "kind": kind,
        "idempotency_key": f"{kind}:{ORDER_ID}",
        "status": status,
        "provider": "simulated",
        "amount": amount,
        "currency": "EUR",
        "provider_reference": "ref",
        "reason": None,
        "refund_id": None,
        "attempt": None,
        "requested_at": when,
        "answered_at": when,
    }
    return LedgerEntryRead.model_validate(fields | more)


def _payment_fields() -> dict[str, Any]:
    """A captured payment refunded in full; any field not named here empty (None, [], 0)."""
    fields: dict[str, Any] = {}
    for name, field in PaymentRead.model_fields.items():
        fields[name] = [] if "list" in str(field.annotation) else None
        if name.endswith("_amount"):
            fields[name] = 0
    return fields | {
        "payment_id": "pay_1",
        "order_id": ORDER_ID,
        "method": "card",
        "provider": "simulated",
        "amount": 2598,
        "currency": "EUR",
        "status": "refunded",
        "captured_amount": 2598,
        "refunded_amount": 2598,
        "created_at": T0,
        "updated_at": at(62),
    }


def test_the_timeline_puts_every_services_story_of_the_order_in_time_order() -> None:
    timeline = assemble(order(), [], answers())
    seen = [(e.source, e.what, e.ref) for e in timeline.entries]

    assert [e.at for e in timeline.entries] == sorted(e.at for e in timeline.entries)
    assert ("parcel", "shipped", "SP1") in seen
    assert ("parcel", "failed", "SP1") in seen
    assert ("parcel", "shipped", "SR2") in seen  # the replacement's parcel
    assert ("payment", "capture succeeded", None) in seen
    assert ("payment", "refund succeeded", "claim:1") in seen
    assert ("notification", "sent", "order_claimed") in seen
    assert ("case", "opened", "CS-0000003") in seen
    assert ("case", "closed", "CS-0000003") in seen
    assert ("claim", "opened", "CLM-0000001") in seen
    assert ("order", "needs_attention", "ORD-0000042") in seen
    assert timeline.unavailable == {"feedback": "support: ConnectTimeout"}


def test_the_timeline_carries_no_customers_words_names_or_addresses() -> None:
    text = assemble(order(), [], answers()).model_dump_json()

    for secret in SECRET_WORDS:
        assert secret not in text


def test_returns_steps_are_on_the_timeline_with_what_the_customer_asked_for() -> None:
    returned = ReturnRead.model_validate(
        {name: None for name in ReturnRead.model_fields}
        | {
            "return_id": uuid4(),
            "return_number": "RMA-0000001",
            "order_id": ORDER_ID,
            "order_number": "ORD-0000042",
            "customer_id": "C1",
            "status": "completed",
            "lines": [StockLine(sku="MUG-1", quantity=1)],
            "reason": "damaged",
            "resolution": "exchange",
            "requested_by": "C1",
            "requested_at": at(100),
            "received": [],
            "replacement": [],
            "replacement_tracking": [],
            "history": [
                ReturnStep(status="requested", at=at(100), reason=None),
                ReturnStep(status="completed", at=at(200), reason=None),
            ],
        }
    )
    timeline = assemble(order(), [returned], {})

    steps = [(e.what, e.detail) for e in timeline.entries if e.source == "return"]
    assert steps == [("requested", "exchange: damaged"), ("completed", None)]


def test_the_timeline_reads_what_it_needs_of_each_service() -> None:
    reads = reads_of(ORDER_ID)

    assert {service for service, _ in reads.values()} == {
        "inventory",
        "payment",
        "notification",
        "support",
    }
    assert all(str(ORDER_ID) in path for _, path in reads.values())
