"""Kafka subscribers of the inventory service: the stock commands the saga sends it."""

from __future__ import annotations

from datetime import timedelta

from faststream import Context

from orderly_inventory import handlers
from orderly_inventory.adapters.carrier import Carrier
from orderly_kit.messaging import UOW_CONTEXT_KEY, UnitOfWork
from orderly_kit.service import Service, of_type
from orderly_schemas import topics
from orderly_schemas.inventory import (
    OrderShipped,
    ReleaseStock,
    ReserveStock,
    ShipmentDelivered,
    ShipmentFailed,
    ShipmentTracked,
    ShipOrder,
    StockReleased,
    StockReservationExpired,
    StockReservationFailed,
    StockReserved,
)

UOW = Context(UOW_CONTEXT_KEY)


def register(
    service: Service,
    *,
    carrier: Carrier,
    reservation_ttl: timedelta,
    pick_delay: timedelta = timedelta(0),
) -> None:
    """Subscribe the stock commands and declare the inventory events."""
    commands = service.subscriber(topics.INVENTORY_COMMANDS)

    @commands(filter=of_type(ReserveStock))
    async def on_reserve_stock(command: ReserveStock, uow: UnitOfWork = UOW) -> None:
        await handlers.reserve_stock(uow, command, ttl=reservation_ttl)

    @commands(filter=of_type(ReleaseStock))
    async def on_release_stock(command: ReleaseStock, uow: UnitOfWork = UOW) -> None:
        await handlers.release_stock(uow, command)

    @commands(filter=of_type(ShipOrder))
    async def on_ship_order(command: ShipOrder, uow: UnitOfWork = UOW) -> None:
        await handlers.ship_order(uow, command, carrier=carrier, pick_delay=pick_delay)

    service.publishes(
        StockReserved,
        StockReservationFailed,
        StockReleased,
        StockReservationExpired,
        OrderShipped,
        ShipmentFailed,
        ShipmentTracked,
        ShipmentDelivered,
    )
