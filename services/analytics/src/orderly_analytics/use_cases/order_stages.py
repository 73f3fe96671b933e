"""The analytics service's use cases: fold each consumed event into the read models.

They stamp through the ``OrderStages`` their unit of work hands out
(``uow.repository``), so that the unit tests run them on a read model kept in memory.
"""

from __future__ import annotations

import logging

from orderly_analytics.adapters.order_stages import OrderStageRepository, OrderStages
from orderly_analytics.domain.order_stages import Stage
from orderly_kit.messaging import UnitOfWork
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.order import (
    OrderCancelled,
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
    OrderEvent,
    OrderNeedsAttention,
    OrderPaid,
    OrderRejected,
)

log = logging.getLogger(__name__)

#: The stage each public lifecycle event marks.
LIFECYCLE_STAGES: dict[type[OrderEvent], Stage] = {
    OrderConfirmed: Stage.CONFIRMED,
    OrderRejected: Stage.REJECTED,
    OrderCancelled: Stage.CANCELLED,
    OrderPaid: Stage.PAID,
    OrderDispatched: Stage.DISPATCHED,
    OrderDelivered: Stage.DELIVERED,
    OrderCompleted: Stage.COMPLETED,
    OrderNeedsAttention: Stage.NEEDS_ATTENTION,
}


def _in_postgres(uow: UnitOfWork) -> OrderStageRepository:
    return OrderStageRepository(uow.session)


def _stages(uow: UnitOfWork) -> OrderStages:
    return uow.repository(_in_postgres)


async def record_order_placed(uow: UnitOfWork, event: OrderPlaced) -> None:
    """Stamp when checkout placed the order, with its customer and total."""
    changed = await _stages(uow).record_stage(
        order_id=event.order_id,
        stage=Stage.PLACED,
        at=event.placed_at,
        customer_id=event.customer.customer_id,
        currency=event.total.currency,
        total_amount=event.total.amount,
    )
    if not changed:
        log.info("order %s was already recorded as placed", event.order_id)


async def record_order_lifecycle(uow: UnitOfWork, event: OrderEvent) -> None:
    """Stamp the stage a lifecycle event marks, at the time it occurred."""
    stage = LIFECYCLE_STAGES[type(event)]
    total = event.total if isinstance(event, OrderConfirmed) else None
    changed = await _stages(uow).record_stage(
        order_id=event.order_id,
        stage=stage,
        at=event.occurred_at,
        order_number=event.order_number,
        customer_id=event.customer_id,
        currency=total.currency if total else None,
        total_amount=total.amount if total else None,
    )
    if not changed:
        log.info("order %s was already recorded as %s", event.order_number, stage)
