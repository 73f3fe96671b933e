"""Kafka subscribers of the order service: the saga's inputs."""

from __future__ import annotations

from faststream import Context

from orderly_kit.messaging import UOW_CONTEXT_KEY, UnitOfWork
from orderly_kit.service import Service, of_type
from orderly_order import handlers
from orderly_order.settings import OrderSettings
from orderly_schemas import topics
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.inventory import (
    OrderShipped,
    ReleaseStock,
    ReserveStock,
    ShipmentDelivered,
    ShipmentFailed,
    ShipOrder,
    StockReleased,
    StockReservationExpired,
    StockReservationFailed,
    StockReserved,
)
from orderly_schemas.order import (
    OrderCancelled,
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
    OrderNeedsAttention,
    OrderPaid,
    OrderRejected,
)
from orderly_schemas.payment import (
    CapturePayment,
    PaymentCaptured,
    PaymentFailed,
    PaymentRefunded,
    PaymentVoided,
    RefundFailed,
    RefundPayment,
)

UOW = Context(UOW_CONTEXT_KEY)


def register(service: Service) -> None:
    """Subscribe the saga's handlers and declare what the saga publishes."""
    assert isinstance(service.settings, OrderSettings)
    timeouts = service.settings.timeouts()

    checkout = service.subscriber(topics.CHECKOUT_ORDERS)

    @checkout(filter=of_type(OrderPlaced))
    async def on_order_placed(event: OrderPlaced, uow: UnitOfWork = UOW) -> None:
        await handlers.place_order(uow, event, timeouts=timeouts)

    inventory = service.subscriber(topics.INVENTORY_EVENTS)

    @inventory(filter=of_type(StockReserved))
    async def on_stock_reserved(event: StockReserved, uow: UnitOfWork = UOW) -> None:
        await handlers.record_stock_reserved(uow, event, timeouts=timeouts)

    @inventory(filter=of_type(StockReservationFailed))
    async def on_stock_reservation_failed(
        event: StockReservationFailed, uow: UnitOfWork = UOW
    ) -> None:
        await handlers.record_stock_reservation_failed(uow, event)

    @inventory(filter=of_type(StockReservationExpired))
    async def on_stock_reservation_expired(
        event: StockReservationExpired, uow: UnitOfWork = UOW
    ) -> None:
        await handlers.record_stock_reservation_expired(uow, event, timeouts=timeouts)

    @inventory(filter=of_type(StockReleased))
    async def on_stock_released(event: StockReleased, uow: UnitOfWork = UOW) -> None:
        await handlers.record_stock_released(uow, event, timeouts=timeouts)

    @inventory(filter=of_type(OrderShipped))
    async def on_order_shipped(event: OrderShipped, uow: UnitOfWork = UOW) -> None:
        await handlers.record_order_shipped(uow, event, timeouts=timeouts)

    @inventory(filter=of_type(ShipmentFailed))
    async def on_shipment_failed(event: ShipmentFailed, uow: UnitOfWork = UOW) -> None:
        await handlers.record_shipment_failed(uow, event, timeouts=timeouts)

    @inventory(filter=of_type(ShipmentDelivered))
    async def on_shipment_delivered(event: ShipmentDelivered, uow: UnitOfWork = UOW) -> None:
        await handlers.record_shipment_delivered(uow, event, timeouts=timeouts)

    payment = service.subscriber(topics.PAYMENT_EVENTS)

    @payment(filter=of_type(PaymentCaptured))
    async def on_payment_captured(event: PaymentCaptured, uow: UnitOfWork = UOW) -> None:
        await handlers.record_payment_captured(uow, event, timeouts=timeouts)

    @payment(filter=of_type(PaymentFailed))
    async def on_payment_failed(event: PaymentFailed, uow: UnitOfWork = UOW) -> None:
        await handlers.record_payment_failed(uow, event, timeouts=timeouts)

    @payment(filter=of_type(PaymentRefunded))
    async def on_payment_refunded(event: PaymentRefunded, uow: UnitOfWork = UOW) -> None:
        await handlers.record_payment_refunded(uow, event)

    @payment(filter=of_type(PaymentVoided))
    async def on_payment_voided(event: PaymentVoided, uow: UnitOfWork = UOW) -> None:
        await handlers.record_payment_voided(uow, event)

    @payment(filter=of_type(RefundFailed))
    async def on_refund_failed(event: RefundFailed, uow: UnitOfWork = UOW) -> None:
        await handlers.record_refund_failed(uow, event)

    service.publishes(
        OrderConfirmed,
        OrderRejected,
        OrderCancelled,
        OrderPaid,
        OrderDispatched,
        OrderDelivered,
        OrderCompleted,
        OrderNeedsAttention,
        ReserveStock,
        ReleaseStock,
        ShipOrder,
        CapturePayment,
        RefundPayment,
        OrderPlaced,  # from POST /orders, the ingress for clients without Kafka
    )
