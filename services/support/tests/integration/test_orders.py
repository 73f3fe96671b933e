"""The orders support knows, learnt from the order lifecycle through the real subscribers and
the kit's inbox (FastStream's in-memory test broker, a real database): whose each order is,
its SKUs and its delivery; every other lifecycle event is skipped, a redelivery changes
nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from faststream.kafka import KafkaBroker
from sqlalchemy import func, select

from orderly_dev.producer import publish
from orderly_kit.service import Service
from orderly_schemas.base import Money, OrderLine
from orderly_schemas.order import (
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
)
from orderly_support.adapters.orm import inbox, orders

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PRICE = Money(amount=1299, currency="EUR")


def lifecycle() -> dict[str, Any]:
    return {
        "order_id": uuid4(),
        "order_number": "ORD-0000042",
        "customer_id": "C-ADA",
        "occurred_at": AT,
    }


def confirmed(common: dict[str, Any]) -> OrderConfirmed:
    return OrderConfirmed(
        **common,
        lines=[
            OrderLine(sku="MUG-001", quantity=2, unit_price=PRICE),
            OrderLine(sku="TEA-002", quantity=1, unit_price=PRICE),
            OrderLine(sku="MUG-001", quantity=1, unit_price=PRICE),
        ],
        total=Money(amount=4 * 1299, currency="EUR"),
    )


async def known(service: Service) -> list[dict[str, Any]]:
    async with service.database.sessions() as session:
        return [dict(row) for row in (await session.execute(select(orders))).mappings()]


async def inbox_rows(service: Service) -> int:
    async with service.database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(inbox)) or 0)


async def test_a_confirmed_order_is_known_and_its_delivery_stamped_once(
    service: Service, consuming: KafkaBroker
) -> None:
    common = lifecycle()
    delivered_at = AT + timedelta(days=2)

    await publish(consuming, confirmed(common))
    await publish(consuming, OrderDispatched(**common, carrier="SimPost", tracking_numbers=["SP1"]))
    await publish(consuming, OrderDelivered(**common, delivered_at=delivered_at))
    await publish(
        consuming,
        OrderCompleted(**{**common, "occurred_at": AT + timedelta(days=5)}, confirmed_by="auto"),
    )

    [order] = await known(service)
    assert (order["order_number"], order["customer_id"]) == ("ORD-0000042", "C-ADA")
    assert order["skus"] == ["MUG-001", "TEA-002"]
    assert order["delivered_at"] == delivered_at
    assert await inbox_rows(service) == 3  # OrderDispatched is not ours: no inbox row


async def test_an_order_completed_before_its_delivery_was_read_counts_as_delivered(
    service: Service, consuming: KafkaBroker
) -> None:
    common = lifecycle()

    await publish(consuming, confirmed(common))
    await publish(consuming, OrderCompleted(**common, confirmed_by="customer"))
    await publish(consuming, OrderDelivered(**common, delivered_at=AT + timedelta(days=1)))

    [order] = await known(service)
    assert order["delivered_at"] == AT


async def test_a_redelivered_confirmation_is_skipped_by_the_inbox(
    service: Service, consuming: KafkaBroker
) -> None:
    event = confirmed(lifecycle())

    for _ in range(3):
        await publish(consuming, event, message_id="order-message-1")

    assert len(await known(service)) == 1
    assert await inbox_rows(service) == 1
