"""Kafka subscribers of the order service: the saga's inputs."""

from __future__ import annotations

from orderly_kit.messaging import UnitOfWork
from orderly_kit.service import Service
from orderly_order import use_cases
from orderly_order.domain.returns import is_return_refund
from orderly_order.settings import OrderSettings
from orderly_schemas import topics
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.inventory import (
    BookReturnParcel,
    OrderShipped,
    ReleaseStock,
    ReplacementDelivered,
    ReplacementFailed,
    ReplacementRefused,
    ReplacementShipped,
    ReserveStock,
    ReturnParcelBooked,
    ReturnParcelRefused,
    ReturnParcelTracked,
    ReturnRestocked,
    ShipmentDelivered,
    ShipmentFailed,
    ShipOrder,
    ShipReplacement,
    StockReleased,
    StockReservationExpired,
    StockReservationFailed,
    StockReserved,
)
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
from orderly_schemas.personal import CustomerErased
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


def register(service: Service) -> None:
    """Subscribe the saga's handlers and declare what the saga publishes."""
    assert isinstance(service.settings, OrderSettings)
    timeouts = service.settings.timeouts()
    policy = service.settings.return_policy()

    checkout = service.subscriber(topics.CHECKOUT_ORDERS)

    @checkout.on(OrderPlaced)
    async def on_order_placed(event: OrderPlaced, uow: UnitOfWork) -> None:
        await use_cases.orders.place_order(uow, event, timeouts=timeouts)

    inventory = service.subscriber(topics.INVENTORY_EVENTS)

    @inventory.on(StockReserved)
    async def on_stock_reserved(event: StockReserved, uow: UnitOfWork) -> None:
        await use_cases.orders.record_stock_reserved(uow, event, timeouts=timeouts)

    @inventory.on(StockReservationFailed)
    async def on_stock_reservation_failed(event: StockReservationFailed, uow: UnitOfWork) -> None:
        await use_cases.orders.record_stock_reservation_failed(uow, event)

    @inventory.on(StockReservationExpired)
    async def on_stock_reservation_expired(event: StockReservationExpired, uow: UnitOfWork) -> None:
        await use_cases.orders.record_stock_reservation_expired(uow, event, timeouts=timeouts)

    @inventory.on(StockReleased)
    async def on_stock_released(event: StockReleased, uow: UnitOfWork) -> None:
        await use_cases.orders.record_stock_released(uow, event, timeouts=timeouts)

    @inventory.on(OrderShipped)
    async def on_order_shipped(event: OrderShipped, uow: UnitOfWork) -> None:
        await use_cases.orders.record_order_shipped(uow, event, timeouts=timeouts)

    @inventory.on(ShipmentFailed)
    async def on_shipment_failed(event: ShipmentFailed, uow: UnitOfWork) -> None:
        await use_cases.orders.record_shipment_failed(uow, event, timeouts=timeouts)

    @inventory.on(ShipmentDelivered)
    async def on_shipment_delivered(event: ShipmentDelivered, uow: UnitOfWork) -> None:
        await use_cases.orders.record_shipment_delivered(uow, event, timeouts=timeouts)

    @inventory.on(ReturnParcelBooked)
    async def on_return_parcel_booked(event: ReturnParcelBooked, uow: UnitOfWork) -> None:
        await use_cases.returns.record_return_parcel_booked(uow, event, policy=policy)

    @inventory.on(ReturnParcelRefused)
    async def on_return_parcel_refused(event: ReturnParcelRefused, uow: UnitOfWork) -> None:
        await use_cases.returns.record_return_parcel_refused(uow, event)

    @inventory.on(ReturnParcelTracked)
    async def on_return_parcel_tracked(event: ReturnParcelTracked, uow: UnitOfWork) -> None:
        await use_cases.returns.record_return_parcel_tracked(uow, event, policy=policy)

    @inventory.on(ReturnRestocked)
    async def on_return_restocked(event: ReturnRestocked, uow: UnitOfWork) -> None:
        await use_cases.returns.record_return_received(uow, event, policy=policy)

    # A replacement ships an exchange's new goods (a return asked for it) or a claim's.
    @inventory.on(ReplacementShipped)
    async def on_replacement_shipped(event: ReplacementShipped, uow: UnitOfWork) -> None:
        if not await use_cases.returns.record_replacement_shipped(uow, event, policy=policy):
            await use_cases.claims.record_replacement_shipped(uow, event, timeouts=timeouts)

    @inventory.on(ReplacementRefused)
    async def on_replacement_refused(event: ReplacementRefused, uow: UnitOfWork) -> None:
        if not await use_cases.returns.record_replacement_refused(uow, event, policy=policy):
            await use_cases.claims.record_replacement_refused(uow, event, timeouts=timeouts)

    @inventory.on(ReplacementDelivered)
    async def on_replacement_delivered(event: ReplacementDelivered, uow: UnitOfWork) -> None:
        await use_cases.claims.record_replacement_delivered(uow, event, timeouts=timeouts)

    @inventory.on(ReplacementFailed)
    async def on_replacement_failed(event: ReplacementFailed, uow: UnitOfWork) -> None:
        await use_cases.claims.record_replacement_failed(uow, event)

    payment = service.subscriber(topics.PAYMENT_EVENTS)

    @payment.on(PaymentCaptured)
    async def on_payment_captured(event: PaymentCaptured, uow: UnitOfWork) -> None:
        await use_cases.orders.record_payment_captured(uow, event, timeouts=timeouts)

    @payment.on(PaymentFailed)
    async def on_payment_failed(event: PaymentFailed, uow: UnitOfWork) -> None:
        await use_cases.orders.record_payment_failed(uow, event, timeouts=timeouts)

    @payment.on(PaymentRefunded)
    async def on_payment_refunded(event: PaymentRefunded, uow: UnitOfWork) -> None:
        if is_return_refund(event.refund_id):
            await use_cases.returns.record_return_refunded(uow, event)
        else:
            await use_cases.orders.record_payment_refunded(uow, event)

    @payment.on(PaymentCharged)
    async def on_payment_charged(event: PaymentCharged, uow: UnitOfWork) -> None:
        await use_cases.returns.record_replacement_charged(uow, event, policy=policy)

    @payment.on(ChargeFailed)
    async def on_charge_failed(event: ChargeFailed, uow: UnitOfWork) -> None:
        await use_cases.returns.record_charge_failed(uow, event, policy=policy)

    @payment.on(PaymentVoided)
    async def on_payment_voided(event: PaymentVoided, uow: UnitOfWork) -> None:
        await use_cases.orders.record_payment_voided(uow, event)

    @payment.on(RefundFailed)
    async def on_refund_failed(event: RefundFailed, uow: UnitOfWork) -> None:
        if is_return_refund(event.refund_id):
            await use_cases.returns.record_return_refund_failed(uow, event)
        else:
            await use_cases.orders.record_refund_failed(uow, event)

    service.publishes(
        OrderConfirmed,
        OrderRejected,
        OrderCancelled,
        OrderPaid,
        OrderDispatched,
        OrderDelivered,
        OrderCompleted,
        OrderNeedsAttention,
        OrderClaimed,  # a claim settled (POST /orders/{ref}/claims)
        OrderReshipped,
        CustomerErased,  # from the erase command (python -m orderly_order customers erase)
        ReserveStock,
        ReleaseStock,
        ShipOrder,
        ShipReplacement,
        CapturePayment,
        RefundPayment,
        OrderPlaced,  # from POST /orders, the ingress for clients without Kafka
        # Each return's saga (from the returns API, inventory's answers and the deadlines).
        ReturnRequested,
        ReturnApproved,
        ReturnRejected,
        ReturnLabelIssued,
        ReturnReceived,
        ReturnCompleted,
        ReturnExpired,
        ReturnNeedsAttention,
        ReturnReplacementShipped,
        ReturnReplacementUnavailable,
        BookReturnParcel,
        ChargePayment,  # an exchange's price difference
    )
    # OrderPlaced carries the customer's details as they typed them: once on Kafka, the
    # outbox keeps nothing of it (orders keep them sealed).
    service.forgets_once_sent(OrderPlaced)
