"""Fixtures for the contract tests: one realistic example of every message type, and
every service's HTTP app on a database of its own.

They live in this conftest because test modules cannot import a sibling module
under ``--import-mode=importlib``; tests reach them through the fixtures below.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from orderly_dev.servers import Servers
from orderly_dev.stack import SERVICES
from orderly_kit.personal_data import development_vault
from orderly_kit.service import Service
from orderly_schemas import Message, Money, OrderLine, StockLine
from orderly_schemas.base import Allocation
from orderly_schemas.checkout import Address, Customer, OrderPlaced, PaymentDetails
from orderly_schemas.inventory import (
    BackInStock,
    BookReturnParcel,
    LowStockDetected,
    OrderShipped,
    Parcel,
    ReleaseStock,
    ReplacementDelivered,
    ReplacementFailed,
    ReplacementRefused,
    ReplacementShipped,
    ReserveStock,
    RestockReturn,
    ReturnLine,
    ReturnParcelBooked,
    ReturnParcelRefused,
    ReturnParcelTracked,
    ReturnRestocked,
    ShipmentDelivered,
    ShipmentFailed,
    ShipmentTracked,
    ShipOrder,
    ShipReplacement,
    StockAdjusted,
    StockReceived,
    StockReleased,
    StockReservationExpired,
    StockReservationFailed,
    StockReserved,
    StockTransferred,
    TransferLine,
)
from orderly_schemas.notification import NotificationFailed, NotificationSent
from orderly_schemas.order import (
    OrderCancelled,
    OrderClaimed,
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
    OrderNeedsAttention,
    OrderPaid,
    OrderRejected,
    OrderReshipped,
)
from orderly_schemas.payment import (
    CapturePayment,
    ChargeFailed,
    ChargePayment,
    PaymentCaptured,
    PaymentCharged,
    PaymentFailed,
    PaymentRefunded,
    PaymentVoided,
    RefundFailed,
    RefundPayment,
)
from orderly_schemas.personal import CustomerErased, SealedPersonalData
from orderly_schemas.returns import (
    ReturnApproved,
    ReturnCompleted,
    ReturnExpired,
    ReturnLabelIssued,
    ReturnNeedsAttention,
    ReturnReceived,
    ReturnRejected,
    ReturnReplacementShipped,
    ReturnReplacementUnavailable,
    ReturnRequested,
)
from orderly_schemas.support import (
    CaseClosed,
    CaseOpened,
    CaseSlaBreached,
    CaseStatusChanged,
    FeedbackGiven,
    LineRating,
)

ORDER_ID = UUID("0b6f3c1e-5d7a-4f0e-9a51-2c8d4e6f7a90")
ORDER_NUMBER = "ORD-2026-004217"
CUSTOMER_ID = "cus_8f2k3m"
CUSTOMER_EMAIL = "ada.lovelace@example.com"
SHIPMENT_ID = UUID("7d1e2f3a-4b5c-4d6e-8f70-1a2b3c4d5e6f")
NOTIFICATION_ID = UUID("c3a9e0f1-2b4d-4c6e-8a0b-9d8e7f6a5b4c")
CASE_ID = UUID("5e8a2c4d-6f1b-4a3e-9c7d-0b2e4f6a8c1d")
PLACED_AT = datetime(2026, 3, 14, 9, 26, 53, 589_000, tzinfo=UTC)
TRACKING_NUMBER = "00340434161234567890"


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def customer() -> Customer:
    return Customer(customer_id=CUSTOMER_ID, email=CUSTOMER_EMAIL, name="Ada Lovelace")


def address() -> Address:
    return Address(
        name="Ada Lovelace",
        line1="Hauptstraße 12",
        line2="3. OG links",
        city="Berlin",
        postal_code="10115",
        country="DE",
    )


def payment_details() -> PaymentDetails:
    return PaymentDetails(method="credit_card", token="tok_visa_4242:2026-03")


def order_lines() -> list[OrderLine]:
    return [
        OrderLine(sku="MUG-CERAMIC-350", quantity=2, unit_price=eur(1299)),
        OrderLine(sku="TEA.EARLGREY_100g", quantity=1, unit_price=eur(649)),
    ]


TOTAL = eur(2 * 1299 + 649)


def at(minutes: int) -> datetime:
    """A time ``minutes`` after the order was placed."""
    return PLACED_AT + timedelta(minutes=minutes)


def order_placed() -> OrderPlaced:
    return OrderPlaced(
        order_id=ORDER_ID,
        customer=customer(),
        lines=order_lines(),
        total=TOTAL,
        shipping_address=address(),
        payment=payment_details(),
        placed_at=PLACED_AT,
    )


def _order_event() -> dict[str, Any]:
    return {
        "order_id": ORDER_ID,
        "order_number": ORDER_NUMBER,
        "customer_id": CUSTOMER_ID,
        "occurred_at": at(1),
    }


#: Seals personal data as the order service does, with the development keys.
_VAULT = development_vault()
_DATA_KEY = bytes(range(32))


def sealed(**values: str) -> SealedPersonalData:
    """``values`` of the example customer, sealed as the order service sends them."""
    return _VAULT.sealed_data(_DATA_KEY, CUSTOMER_ID, values)


def sealed_address() -> SealedPersonalData:
    return sealed(shipping_address=address().model_dump_json())


def order_confirmed() -> OrderConfirmed:
    return OrderConfirmed(
        **_order_event(),
        personal=sealed(customer_email=CUSTOMER_EMAIL),
        lines=order_lines(),
        total=TOTAL,
    )


def customer_erased() -> CustomerErased:
    return CustomerErased(customer_id=CUSTOMER_ID, occurred_at=at(90 * 24 * 60))


def order_rejected() -> OrderRejected:
    return OrderRejected(**_order_event(), reason="insufficient stock for MUG-CERAMIC-350")


def order_cancelled() -> OrderCancelled:
    return OrderCancelled(**_order_event(), reason="cancelled by the customer before payment")


def order_paid() -> OrderPaid:
    return OrderPaid(**_order_event(), amount=TOTAL, payment_id="pay_01HV7Q9X3K")


def order_dispatched() -> OrderDispatched:
    return OrderDispatched(**_order_event(), carrier="DHL", tracking_numbers=[TRACKING_NUMBER])


def order_delivered() -> OrderDelivered:
    return OrderDelivered(**_order_event(), delivered_at=at(2 * 24 * 60))


def order_completed() -> OrderCompleted:
    return OrderCompleted(**_order_event(), confirmed_by="customer")


def reserve_stock() -> ReserveStock:
    return ReserveStock(
        order_id=ORDER_ID,
        lines=[StockLine(sku=line.sku, quantity=line.quantity) for line in order_lines()],
        personal=sealed_address(),
    )


def release_stock() -> ReleaseStock:
    return ReleaseStock(order_id=ORDER_ID, reason="payment declined")


def ship_order() -> ShipOrder:
    return ShipOrder(order_id=ORDER_ID, personal=sealed_address())


def stock_reserved() -> StockReserved:
    return StockReserved(
        order_id=ORDER_ID,
        occurred_at=at(2),
        allocations=[
            Allocation(sku="MUG-CERAMIC-350", warehouse="berlin-1", quantity=1),
            Allocation(sku="MUG-CERAMIC-350", warehouse="hamburg-2", quantity=1),
            Allocation(sku="TEA.EARLGREY_100g", warehouse="berlin-1", quantity=1),
        ],
    )


def stock_reservation_failed() -> StockReservationFailed:
    return StockReservationFailed(
        order_id=ORDER_ID,
        occurred_at=at(2),
        reason="not enough stock in any warehouse",
        short_skus=["MUG-CERAMIC-350"],
    )


def stock_released() -> StockReleased:
    return StockReleased(order_id=ORDER_ID, occurred_at=at(5), reason="payment declined")


def stock_reservation_expired() -> StockReservationExpired:
    return StockReservationExpired(
        order_id=ORDER_ID,
        occurred_at=at(31),
        reason="reservation older than its time-to-live of 1800s",
        allocations=[Allocation(sku="MUG-CERAMIC-350", warehouse="hamburg-2", quantity=1)],
    )


def order_shipped() -> OrderShipped:
    return OrderShipped(
        order_id=ORDER_ID,
        occurred_at=at(90),
        shipment_id=SHIPMENT_ID,
        carrier="DHL",
        tracking_number=TRACKING_NUMBER,
        parcels=[
            Parcel(
                shipment_id=SHIPMENT_ID,
                warehouse="hamburg-2",
                carrier="DHL",
                tracking_number=TRACKING_NUMBER,
                lines=[StockLine(sku="MUG-CERAMIC-350", quantity=1)],
            )
        ],
    )


def shipment_failed() -> ShipmentFailed:
    return ShipmentFailed(
        order_id=ORDER_ID, occurred_at=at(90), reason="carrier rejected the parcel: oversize"
    )


def shipment_delivered() -> ShipmentDelivered:
    return ShipmentDelivered(
        order_id=ORDER_ID,
        occurred_at=at(2 * 24 * 60 + 1),
        shipment_id=SHIPMENT_ID,
        tracking_number=TRACKING_NUMBER,
        delivered_at=at(2 * 24 * 60),
    )


def shipment_tracked() -> ShipmentTracked:
    return ShipmentTracked(
        order_id=ORDER_ID,
        occurred_at=at(24 * 60),
        shipment_id=SHIPMENT_ID,
        carrier="DHL",
        tracking_number=TRACKING_NUMBER,
        status="out_for_delivery",
        detail="with the courier since 07:40",
    )


RETURN_ID = UUID("5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b")
TRANSFER_ID = UUID("9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d")


def restock_return() -> RestockReturn:
    return RestockReturn(
        order_id=ORDER_ID,
        return_id=RETURN_ID,
        warehouse="hamburg-2",
        lines=[
            ReturnLine(sku="MUG-CERAMIC-350", quantity=1, condition="resellable"),
            ReturnLine(sku="TEE-ORGANIC-M", quantity=1, condition="damaged"),
        ],
    )


def return_restocked() -> ReturnRestocked:
    command = restock_return()
    return ReturnRestocked(
        order_id=ORDER_ID,
        occurred_at=at(20 * 24 * 60),
        return_id=RETURN_ID,
        warehouse=command.warehouse,
        lines=command.lines,
    )


RMA_ID = UUID("2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f")


def _return_event(minutes: int) -> dict[str, Any]:
    return {
        "return_id": RMA_ID,
        "return_number": "RMA-0000042",
        "order_id": ORDER_ID,
        "order_number": ORDER_NUMBER,
        "customer_id": CUSTOMER_ID,
        "lines": [StockLine(sku="MUG-CERAMIC-350", quantity=1)],
        "reason": "damaged",
        "reason_text": "the handle came off in the box",
        "resolution": "refund",
        "occurred_at": at(minutes),
    }


def return_requested() -> ReturnRequested:
    return ReturnRequested(**_return_event(5 * 24 * 60))


def return_approved() -> ReturnApproved:
    return ReturnApproved(**_return_event(5 * 24 * 60), approved_by="rule")


def return_rejected() -> ReturnRejected:
    return ReturnRejected(
        **_return_event(6 * 24 * 60),
        rejected_by="support-agent-17",
        rejection_reason="the photos show wear from use, not damage in transit",
    )


def return_label_issued() -> ReturnLabelIssued:
    return ReturnLabelIssued(
        **_return_event(5 * 24 * 60 + 1),
        carrier="DHL",
        tracking_number="RT-00340434161094042557",
        warehouse="hamburg-2",
        expires_at=at(19 * 24 * 60),
    )


def return_received() -> ReturnReceived:
    return ReturnReceived(
        **_return_event(8 * 24 * 60),
        warehouse="hamburg-2",
        received=[ReturnLine(sku="MUG-CERAMIC-350", quantity=1, condition="damaged")],
    )


def return_completed() -> ReturnCompleted:
    return ReturnCompleted(
        **_return_event(8 * 24 * 60 + 5),
        refunded=Money(amount=1299, currency="EUR"),
        restocking_fee=Money(amount=0, currency="EUR"),
        refund_id=f"return:{RMA_ID}",
    )


def return_expired() -> ReturnExpired:
    return ReturnExpired(
        **_return_event(19 * 24 * 60), expired_reason="the return label was not used in 14 days"
    )


def return_needs_attention() -> ReturnNeedsAttention:
    return ReturnNeedsAttention(
        **_return_event(8 * 24 * 60 + 40),
        attention_reason="refund failed after 5 attempt(s): provider unavailable",
    )


def book_return_parcel() -> BookReturnParcel:
    return BookReturnParcel(
        order_id=ORDER_ID,
        return_id=RMA_ID,
        lines=[StockLine(sku="MUG-CERAMIC-350", quantity=1)],
    )


def return_parcel_booked() -> ReturnParcelBooked:
    return ReturnParcelBooked(
        order_id=ORDER_ID,
        occurred_at=at(5 * 24 * 60 + 1),
        return_id=RMA_ID,
        warehouse="hamburg-2",
        carrier="DHL",
        tracking_number="RT-00340434161094042557",
    )


def return_parcel_refused() -> ReturnParcelRefused:
    return ReturnParcelRefused(
        order_id=ORDER_ID,
        occurred_at=at(5 * 24 * 60 + 1),
        return_id=RMA_ID,
        reason="the carrier does not collect from this postcode",
    )


def return_parcel_tracked() -> ReturnParcelTracked:
    return ReturnParcelTracked(
        order_id=ORDER_ID,
        occurred_at=at(7 * 24 * 60),
        return_id=RMA_ID,
        carrier="DHL",
        tracking_number="RT-00340434161094042557",
        status="delivered",
        detail="received at the dock",
    )


def low_stock_detected() -> LowStockDetected:
    return LowStockDetected(
        sku="MUG-CERAMIC-350",
        warehouse="hamburg-2",
        occurred_at=at(5),
        available=4,
        safety_stock=10,
    )


def back_in_stock() -> BackInStock:
    return BackInStock(
        sku="MUG-CERAMIC-350",
        warehouse="hamburg-2",
        occurred_at=at(600),
        available=250,
        safety_stock=10,
    )


def stock_adjusted() -> StockAdjusted:
    return StockAdjusted(
        sku="MUG-CERAMIC-350",
        warehouse="hamburg-2",
        occurred_at=at(700),
        quantity_change=-3,
        on_hand=247,
        reason="stock-take variance",
        reference="stock-take 2f1c",
        actor="warehouse.lead@example.com",
    )


def stock_received() -> StockReceived:
    return StockReceived(
        sku="MUG-CERAMIC-350",
        warehouse="hamburg-2",
        occurred_at=at(600),
        quantity=250,
        on_hand=254,
        reference="PO-2026-0193",
        actor="erp-connector",
    )


def stock_transferred() -> StockTransferred:
    return StockTransferred(
        transfer_id=TRANSFER_ID,
        status="received",
        from_warehouse="hamburg-2",
        to_warehouse="berlin-1",
        lines=[TransferLine(sku="MUG-CERAMIC-350", quantity=40, received=38, damaged=2)],
        occurred_at=at(3 * 24 * 60),
    )


def capture_payment() -> CapturePayment:
    return CapturePayment(order_id=ORDER_ID, amount=TOTAL, payment=payment_details())


def refund_payment() -> RefundPayment:
    return RefundPayment(
        order_id=ORDER_ID,
        refund_id=f"refund-{ORDER_ID}-1",
        amount=TOTAL,
        reason="shipment failed",
    )


def payment_captured() -> PaymentCaptured:
    return PaymentCaptured(
        order_id=ORDER_ID,
        occurred_at=at(3),
        payment_id="pay_01HV7Q9X3K",
        amount=TOTAL,
        provider_reference="ch_3OxT2e2eZvKYlo2C0",
    )


def payment_failed() -> PaymentFailed:
    return PaymentFailed(order_id=ORDER_ID, occurred_at=at(3), reason="card declined: do_not_honor")


def payment_refunded() -> PaymentRefunded:
    return PaymentRefunded(
        order_id=ORDER_ID,
        occurred_at=at(95),
        refund_id=f"refund-{ORDER_ID}-1",
        amount=TOTAL,
        provider_reference="re_3OxT2e2eZvKYlo2C1",
    )


def refund_failed() -> RefundFailed:
    return RefundFailed(
        order_id=ORDER_ID,
        occurred_at=at(95),
        refund_id=f"refund-{ORDER_ID}-1",
        amount=TOTAL,
        reason="provider timeout",
        attempts=3,
    )


def payment_voided() -> PaymentVoided:
    return PaymentVoided(
        order_id=ORDER_ID,
        occurred_at=at(4),
        refund_id=f"{ORDER_ID}:cancelled",
        reason="cancelled by the customer before payment was captured",
    )


def order_needs_attention() -> OrderNeedsAttention:
    return OrderNeedsAttention(
        order_id=ORDER_ID,
        order_number=ORDER_NUMBER,
        customer_id=CUSTOMER_ID,
        occurred_at=at(200),
        reason="refund failed after 5 attempts: refund rejected by provider",
        amount=TOTAL,
    )


def notification_sent() -> NotificationSent:
    return NotificationSent(
        notification_id=NOTIFICATION_ID,
        order_id=ORDER_ID,
        channel="email",
        template="order-confirmed",
        occurred_at=at(1),
        recipient=CUSTOMER_EMAIL,
    )


def notification_failed() -> NotificationFailed:
    return NotificationFailed(
        notification_id=NOTIFICATION_ID,
        order_id=None,  # a notification need not belong to an order
        channel="webhook",
        template="low-stock",
        occurred_at=at(1),
        reason="endpoint answered 503 after 5 attempts",
    )


def feedback_given() -> FeedbackGiven:
    return FeedbackGiven(
        order_id=ORDER_ID,
        order_number=ORDER_NUMBER,
        customer_id=CUSTOMER_ID,
        rating=4,
        line_ratings=[
            LineRating(sku="MUG-CERAMIC-350", rating=5),
            LineRating(sku="TEA.EARLGREY_100g", rating=3),
        ],
        has_comment=True,
        edited=False,
        occurred_at=at(4 * 24 * 60),
    )


def _case_event(minutes: int) -> dict[str, Any]:
    return {
        "case_id": CASE_ID,
        "case_number": "CS-0000042",
        "category": "damaged",
        "customer_id": CUSTOMER_ID,
        "order_id": ORDER_ID,
        "order_number": ORDER_NUMBER,
        "return_id": RMA_ID,
        "occurred_at": at(minutes),
    }


def case_opened() -> CaseOpened:
    return CaseOpened(
        **_case_event(4 * 24 * 60),
        opened_by="customer",
        first_response_due_at=at(4 * 24 * 60 + 4 * 60),
        resolution_due_at=at(7 * 24 * 60),
    )


def case_status_changed() -> CaseStatusChanged:
    return CaseStatusChanged(**_case_event(4 * 24 * 60 + 30), from_status="new", to_status="open")


def case_sla_breached() -> CaseSlaBreached:
    return CaseSlaBreached(**_case_event(7 * 24 * 60 + 1), sla="resolution", due_at=at(7 * 24 * 60))


def case_closed() -> CaseClosed:
    return CaseClosed(**_case_event(8 * 24 * 60), satisfaction=4)


CLAIM_ID = UUID("8d9e0f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a")
REPLACEMENT_ID = UUID("3f4a5b6c-7d8e-4f9a-8b1c-2d3e4f5a6b7c")
REPLACEMENT_SHIPMENT_ID = UUID("6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d")
REPLACEMENT_TRACKING = "SIM-RP-7Q2K9X4M"


def order_claimed() -> OrderClaimed:
    return OrderClaimed(
        **(_order_event() | {"occurred_at": at(6 * 24 * 60)}),
        claim_id=CLAIM_ID,
        claim_number="CLM-0000007",
        kind="lost",
        resolution="reshipment",
        carrier="DHL",
        opened_by="support:agent-17",
    )


def order_reshipped() -> OrderReshipped:
    return OrderReshipped(
        **(_order_event() | {"occurred_at": at(6 * 24 * 60 + 30)}),
        claim_id=CLAIM_ID,
        replacement_id=REPLACEMENT_ID,
        carrier="DHL",
        tracking_numbers=[REPLACEMENT_TRACKING],
    )


def ship_replacement() -> ShipReplacement:
    return ShipReplacement(
        order_id=ORDER_ID,
        replacement_id=REPLACEMENT_ID,
        lines=[StockLine(sku="MUG-CERAMIC-350", quantity=2)],
        reason="claim CLM-0000007: parcel lost in transit",
        personal=sealed_address(),
    )


def replacement_shipped() -> ReplacementShipped:
    return ReplacementShipped(
        order_id=ORDER_ID,
        occurred_at=at(6 * 24 * 60 + 30),
        replacement_id=REPLACEMENT_ID,
        parcels=[
            Parcel(
                shipment_id=REPLACEMENT_SHIPMENT_ID,
                warehouse="berlin-1",
                carrier="DHL",
                tracking_number=REPLACEMENT_TRACKING,
                lines=[StockLine(sku="MUG-CERAMIC-350", quantity=2)],
            )
        ],
    )


def replacement_refused() -> ReplacementRefused:
    return ReplacementRefused(
        order_id=ORDER_ID,
        occurred_at=at(6 * 24 * 60 + 1),
        replacement_id=REPLACEMENT_ID,
        reason="insufficient stock",
        short_skus=["MUG-CERAMIC-350"],
    )


def replacement_delivered() -> ReplacementDelivered:
    return ReplacementDelivered(
        order_id=ORDER_ID,
        occurred_at=at(8 * 24 * 60 + 1),
        replacement_id=REPLACEMENT_ID,
        delivered_at=at(8 * 24 * 60),
    )


def replacement_failed() -> ReplacementFailed:
    return ReplacementFailed(
        order_id=ORDER_ID,
        occurred_at=at(8 * 24 * 60 + 1),
        replacement_id=REPLACEMENT_ID,
        reason="parcel lost in transit",
    )


def charge_payment() -> ChargePayment:
    return ChargePayment(
        order_id=ORDER_ID,
        charge_id=f"exchange:{RMA_ID}",
        amount=eur(350),
        payment=payment_details(),
        reason="exchange RMA-0000042: price difference",
    )


def payment_charged() -> PaymentCharged:
    return PaymentCharged(
        order_id=ORDER_ID,
        occurred_at=at(5 * 24 * 60 + 2),
        charge_id=f"exchange:{RMA_ID}",
        amount=eur(350),
        provider_reference="ch_3OxT2e2eZvKYlo2C7",
    )


def charge_failed() -> ChargeFailed:
    return ChargeFailed(
        order_id=ORDER_ID,
        occurred_at=at(5 * 24 * 60 + 2),
        charge_id=f"exchange:{RMA_ID}",
        amount=eur(350),
        reason="card declined: insufficient_funds",
    )


def _exchange_event(minutes: int) -> dict[str, Any]:
    return _return_event(minutes) | {
        "reason": "no_longer_needed",
        "reason_text": None,
        "resolution": "exchange",
        "replacement": [StockLine(sku="MUG-CERAMIC-500", quantity=1)],
    }


def return_replacement_shipped() -> ReturnReplacementShipped:
    return ReturnReplacementShipped(
        **_exchange_event(5 * 24 * 60 + 30),
        replacement_id=REPLACEMENT_ID,
        carrier="DHL",
        tracking_numbers=[REPLACEMENT_TRACKING],
    )


def return_replacement_unavailable() -> ReturnReplacementUnavailable:
    return ReturnReplacementUnavailable(
        **(_exchange_event(5 * 24 * 60 + 1) | {"resolution": "refund"}),
        unavailable_reason="MUG-CERAMIC-500 is out of stock; the return is refunded instead",
    )


FACTORIES: dict[type[Message], Callable[[], Message]] = {
    OrderPlaced: order_placed,
    OrderConfirmed: order_confirmed,
    OrderRejected: order_rejected,
    OrderCancelled: order_cancelled,
    OrderPaid: order_paid,
    OrderDispatched: order_dispatched,
    OrderDelivered: order_delivered,
    OrderCompleted: order_completed,
    OrderNeedsAttention: order_needs_attention,
    CustomerErased: customer_erased,
    ReturnRequested: return_requested,
    ReturnApproved: return_approved,
    ReturnRejected: return_rejected,
    ReturnLabelIssued: return_label_issued,
    ReturnReceived: return_received,
    ReturnCompleted: return_completed,
    ReturnExpired: return_expired,
    ReturnNeedsAttention: return_needs_attention,
    BookReturnParcel: book_return_parcel,
    ReturnParcelBooked: return_parcel_booked,
    ReturnParcelRefused: return_parcel_refused,
    ReturnParcelTracked: return_parcel_tracked,
    ReserveStock: reserve_stock,
    ReleaseStock: release_stock,
    ShipOrder: ship_order,
    StockReserved: stock_reserved,
    StockReservationFailed: stock_reservation_failed,
    StockReleased: stock_released,
    StockReservationExpired: stock_reservation_expired,
    OrderShipped: order_shipped,
    ShipmentFailed: shipment_failed,
    ShipmentDelivered: shipment_delivered,
    ShipmentTracked: shipment_tracked,
    RestockReturn: restock_return,
    ReturnRestocked: return_restocked,
    LowStockDetected: low_stock_detected,
    BackInStock: back_in_stock,
    StockAdjusted: stock_adjusted,
    StockReceived: stock_received,
    StockTransferred: stock_transferred,
    CapturePayment: capture_payment,
    RefundPayment: refund_payment,
    PaymentCaptured: payment_captured,
    PaymentFailed: payment_failed,
    PaymentRefunded: payment_refunded,
    RefundFailed: refund_failed,
    PaymentVoided: payment_voided,
    NotificationSent: notification_sent,
    NotificationFailed: notification_failed,
    FeedbackGiven: feedback_given,
    CaseOpened: case_opened,
    CaseStatusChanged: case_status_changed,
    CaseSlaBreached: case_sla_breached,
    CaseClosed: case_closed,
    OrderClaimed: order_claimed,
    OrderReshipped: order_reshipped,
    ShipReplacement: ship_replacement,
    ReplacementShipped: replacement_shipped,
    ReplacementRefused: replacement_refused,
    ReplacementDelivered: replacement_delivered,
    ReplacementFailed: replacement_failed,
    ChargePayment: charge_payment,
    PaymentCharged: payment_charged,
    ChargeFailed: charge_failed,
    ReturnReplacementShipped: return_replacement_shipped,
    ReturnReplacementUnavailable: return_replacement_unavailable,
}


@pytest.fixture(scope="session")
def examples() -> dict[str, Message]:
    """One valid example of each message type the factories know, by CloudEvents type."""
    return {cls.message_type(): make() for cls, make in FACTORIES.items()}


@pytest.fixture
def order_placed_json() -> dict[str, Any]:
    """A valid OrderPlaced as the JSON upstream checkout sends (mutate it to break a rule)."""
    return order_placed().model_dump(mode="json")


@pytest.fixture(scope="module")
def services(servers: Servers, request: pytest.FixtureRequest) -> Iterator[dict[str, Service]]:
    """Each service built on a migrated database of the test module's own, by service name
    (not started: no Kafka, no jobs; its HTTP app answers all the same)."""
    built: dict[str, Service] = {}
    for name, spec in SERVICES.items():
        db = f"{request.path.stem}_{name}"
        servers.postgres.create_database(db, drop=True)
        url = servers.postgres.url(db)
        spec.migrate(url)
        built[name] = spec.build(database_url=url, log_json=False)
    yield built
    for service in built.values():
        asyncio.run(service.database.dispose())
