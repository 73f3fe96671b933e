"""Kafka subscribers of the inventory service: the stock commands the sagas send it."""

from __future__ import annotations

from datetime import timedelta

from orderly_inventory import use_cases
from orderly_inventory.adapters.carrier import Carrier
from orderly_inventory.domain.allocation import Policy
from orderly_inventory.domain.errors import ConflictError, InvalidInputError
from orderly_inventory.domain.ledger import SAGA_ACTOR
from orderly_inventory.domain.regions import NO_REGIONS, Regions
from orderly_kit.customers import forget_erased_customers
from orderly_kit.messaging import PoisonMessageError, UnitOfWork
from orderly_kit.service import Service
from orderly_schemas import topics
from orderly_schemas.inventory import (
    BackInStock,
    BookReturnParcel,
    LowStockDetected,
    OrderShipped,
    ReleaseStock,
    ReplacementDelivered,
    ReplacementFailed,
    ReplacementRefused,
    ReplacementShipped,
    ReserveStock,
    RestockReturn,
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
)


def register(
    service: Service,
    *,
    carrier: Carrier,
    reservation_ttl: timedelta,
    pick_delay: timedelta = timedelta(0),
    policy: Policy = Policy.PRIORITY,
    regions: Regions = NO_REGIONS,
) -> None:
    """Subscribe the stock commands and declare the inventory events."""
    # Orders of every partition reserve the same SKUs: one partition's batch at a time, so
    # that two transactions never lock stock rows in opposite orders (a deadlock between
    # replicas is still possible and costs a retry one by one, never a wrong result).
    commands = service.subscriber(topics.INVENTORY_COMMANDS, partitions_concurrently=False)

    @commands.on(ReserveStock)
    async def on_reserve_stock(command: ReserveStock, uow: UnitOfWork) -> None:
        await use_cases.fulfilment.reserve_stock(
            uow, command, ttl=reservation_ttl, policy=policy, regions=regions
        )

    @commands.on(ReleaseStock)
    async def on_release_stock(command: ReleaseStock, uow: UnitOfWork) -> None:
        await use_cases.fulfilment.release_stock(uow, command)

    @commands.on(ShipOrder)
    async def on_ship_order(command: ShipOrder, uow: UnitOfWork) -> None:
        await use_cases.fulfilment.ship_order(uow, command, carrier=carrier, pick_delay=pick_delay)

    @commands.on(RestockReturn)
    async def on_restock_return(command: RestockReturn, uow: UnitOfWork) -> None:
        try:
            await use_cases.receiving.restock_return(uow, command, actor=SAGA_ACTOR)
        except InvalidInputError as e:
            # An unknown warehouse, or not the one the return's parcel goes to (or another
            # order's return): no retry can cure it.
            raise PoisonMessageError(str(e)) from e

    @commands.on(BookReturnParcel)
    async def on_book_return_parcel(command: BookReturnParcel, uow: UnitOfWork) -> None:
        await use_cases.returns.book_return_parcel(uow, command, carrier=carrier)

    @commands.on(ShipReplacement)
    async def on_ship_replacement(command: ShipReplacement, uow: UnitOfWork) -> None:
        try:
            await use_cases.replacements.ship_replacement(
                uow, command, carrier=carrier, pick_delay=pick_delay, policy=policy, regions=regions
            )
        except ConflictError as e:
            # A replacement id already used for another order: no retry can cure it.
            raise PoisonMessageError(str(e)) from e

    # A customer's erasure destroys the key their ship-to addresses are sealed under.
    forget_erased_customers(service)

    service.publishes(
        StockReserved,
        StockReservationFailed,
        StockReleased,
        StockReservationExpired,
        OrderShipped,
        ShipmentFailed,
        ShipmentTracked,
        ShipmentDelivered,
        ReturnRestocked,
        ReturnParcelBooked,
        ReturnParcelRefused,
        ReturnParcelTracked,
        ReplacementShipped,
        ReplacementRefused,
        ReplacementDelivered,
        ReplacementFailed,
        StockTransferred,
        StockReceived,
        StockAdjusted,
        LowStockDetected,
        BackInStock,
    )
