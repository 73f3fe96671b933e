"""What the after-sales report counts, recorded as the order service tells it: the steps of
returns (order.returns.v1) and the claims settled (OrderClaimed on order.events.v1).

Each is one statement through the ``AfterSales`` its unit of work hands out
(``uow.repository``), in the consuming transaction with its inbox row, so a redelivered
event changes nothing. Only ids, the reason's code, SKUs and units, the warehouse, money
and times are kept: never the customer's words (``reason_text``) or a rejection's.
"""

from __future__ import annotations

from orderly_kit.messaging import UnitOfWork
from orderly_schemas.order import OrderClaimed
from orderly_schemas.returns import (
    ReturnCompleted,
    ReturnEvent,
    ReturnReceived,
    ReturnReplacementShipped,
    ReturnReplacementUnavailable,
    ReturnRequested,
)
from orderly_support.adapters.after_sales import AfterSales, AfterSalesRepository
from orderly_support.domain.after_sales import ReturnSeen, units_by_sku


def _in_postgres(uow: UnitOfWork) -> AfterSalesRepository:
    return AfterSalesRepository(uow.session)


def _after_sales(uow: UnitOfWork) -> AfterSales:
    return uow.repository(_in_postgres)


def _seen(event: ReturnEvent) -> ReturnSeen:
    return ReturnSeen(
        return_id=event.return_id,
        order_id=event.order_id,
        reason=event.reason,
        exchange=event.resolution == "exchange",
    )


async def record_return_requested(uow: UnitOfWork, event: ReturnRequested) -> None:
    """A return was asked for, for a refund or in exchange for other goods."""
    await _after_sales(uow).record_requested(_seen(event), at=event.occurred_at)


async def record_return_received(uow: UnitOfWork, event: ReturnReceived) -> None:
    """The goods came back to the warehouse: the units of each SKU, whatever their state."""
    skus, units = units_by_sku(event.received)
    await _after_sales(uow).record_received(
        _seen(event), at=event.occurred_at, warehouse=event.warehouse, skus=skus, units=units
    )


async def record_replacement_shipped(uow: UnitOfWork, event: ReturnReplacementShipped) -> None:
    """An exchange's new goods left the warehouse."""
    await _after_sales(uow).record_replacement_shipped(_seen(event), at=event.occurred_at)


async def record_replacement_unavailable(
    uow: UnitOfWork, event: ReturnReplacementUnavailable
) -> None:
    """An exchange's new goods could not be had: it goes on as a refund."""
    await _after_sales(uow).record_replacement_unavailable(_seen(event), at=event.occurred_at)


async def record_return_completed(uow: UnitOfWork, event: ReturnCompleted) -> None:
    """The return is settled: refunded, the restocking fee kept, an exchange's difference
    charged."""
    await _after_sales(uow).record_completed(
        _seen(event),
        at=event.occurred_at,
        refunded=event.refunded,
        restocking_fee=event.restocking_fee,
        charged=event.charged,
    )


async def record_order_claimed(uow: UnitOfWork, event: OrderClaimed) -> None:
    """A claim on a parcel lost or damaged in transit was settled."""
    await _after_sales(uow).record_claim(
        claim_id=event.claim_id,
        order_id=event.order_id,
        kind=event.kind,
        resolution=event.resolution,
        carrier=event.carrier,
        at=event.occurred_at,
    )
