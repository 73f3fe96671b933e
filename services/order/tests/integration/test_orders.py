"""Order handlers against a real, migrated PostgreSQL: rows, history and outbox."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import func, select

from orderly_dev.checkout import make_order
from orderly_kit import migrations
from orderly_kit.db import Database
from orderly_kit.messaging import Messaging
from orderly_kit.outbox import OutboxSignal
from orderly_kit.personal_data import vault_from
from orderly_order import use_cases
from orderly_order.adapters import orm
from orderly_order.adapters.orm import order_status_history, orders, outbox
from orderly_order.bootstrap import MIGRATIONS
from orderly_order.domain.order import OrderStateError, Timeouts
from orderly_order.settings import OrderSettings
from orderly_schemas.base import Allocation
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.inventory import OrderShipped, ShipmentDelivered, StockReserved
from orderly_schemas.payment import CapturePayment, PaymentCaptured

NOW = datetime.now(UTC)
VAULT = vault_from(OrderSettings(), orm.customer_keys)
T = Timeouts(reply=timedelta(seconds=30), max_resends=1, auto_complete=timedelta(0))


@pytest.fixture
async def messaging(fresh_database: str) -> AsyncIterator[Messaging]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    db = Database(fresh_database, pool_size=5)
    yield Messaging(
        database=db,
        outbox=orm.outbox,
        inbox=orm.inbox,
        service="order",
        signal=OutboxSignal(),
        vault=VAULT,
    )
    await db.dispose()


async def process_due_deadlines(m: Messaging) -> int:
    async with m.unit_of_work() as uow:
        return await use_cases.orders.process_due_deadlines(uow, timeouts=T)


async def outbox_types(m: Messaging) -> list[str]:
    async with m.database.transaction() as s:
        return list((await s.scalars(select(outbox.c.message_type).order_by(outbox.c.id))).all())


async def test_an_order_placed_twice_is_numbered_and_confirmed_once(messaging: Messaging) -> None:
    event = make_order(random.Random(1))
    for _ in range(2):
        async with messaging.unit_of_work() as uow:
            await use_cases.orders.place_order(uow, event, timeouts=T)
    async with messaging.database.transaction() as s:
        rows = (await s.execute(select(orders.c.order_number, orders.c.status))).all()
    assert [tuple(r) for r in rows] == [("ORD-0000001", "confirmed")]
    assert await outbox_types(messaging) == ["OrderConfirmed", "ReserveStock"]


async def test_the_happy_path_auto_completes_after_the_delay(messaging: Messaging) -> None:
    event = make_order(random.Random(2))
    oid = event.order_id

    async def step(fn, *args, **kw) -> None:  # type: ignore[no-untyped-def]
        async with messaging.unit_of_work() as uow:
            await fn(uow, *args, **kw)

    await step(use_cases.orders.place_order, event, timeouts=T)
    line = event.lines[0]
    await step(
        use_cases.orders.record_stock_reserved,
        StockReserved(
            order_id=oid,
            occurred_at=NOW,
            allocations=[Allocation(sku=line.sku, warehouse="east", quantity=line.quantity)],
        ),
        timeouts=T,
    )
    await step(
        use_cases.orders.record_payment_captured,
        PaymentCaptured(
            order_id=oid,
            occurred_at=NOW,
            payment_id="pay_1",
            amount=event.total,
            provider_reference="sim_1",
        ),
        timeouts=T,
    )
    await step(
        use_cases.orders.record_order_shipped,
        OrderShipped(
            order_id=oid,
            occurred_at=NOW,
            shipment_id=uuid4(),
            carrier="SimPost",
            tracking_number="SP000000000001",
        ),
        timeouts=T,
    )
    await step(
        use_cases.orders.record_shipment_delivered,
        ShipmentDelivered(
            order_id=oid,
            occurred_at=NOW,
            shipment_id=uuid4(),
            tracking_number="SP000000000001",
            delivered_at=NOW,
        ),
        timeouts=T,
    )
    assert await process_due_deadlines(messaging) == 1
    assert await process_due_deadlines(messaging) == 0
    async with messaging.database.transaction() as s:
        history = list(
            (
                await s.scalars(
                    select(order_status_history.c.status).order_by(order_status_history.c.id)
                )
            ).all()
        )
        status = await s.scalar(select(orders.c.status))
    assert history == ["confirmed", "reserved", "paid", "shipped", "delivered", "completed"]
    assert status == "completed"
    assert (await outbox_types(messaging))[-1] == "OrderCompleted"


async def test_concurrent_replies_for_one_order_apply_once(messaging: Messaging) -> None:
    event = make_order(random.Random(3))
    async with messaging.unit_of_work() as uow:
        await use_cases.orders.place_order(uow, event, timeouts=T)
    reply = StockReserved(
        order_id=event.order_id,
        occurred_at=NOW,
        allocations=[Allocation(sku=event.lines[0].sku, warehouse="east", quantity=1)],
    )

    async def deliver() -> None:
        async with messaging.unit_of_work() as uow:
            await use_cases.orders.record_stock_reserved(uow, reply, timeouts=T)

    await asyncio.gather(*(deliver() for _ in range(5)))
    assert (await outbox_types(messaging)).count("CapturePayment") == 1
    async with messaging.database.transaction() as s:
        n = await s.scalar(select(func.count()).select_from(order_status_history))
    assert n == 2


async def order_row(m: Messaging, order_id: UUID) -> dict[str, object]:
    async with m.database.transaction() as s:
        row = (await s.execute(select(orders).where(orders.c.order_id == order_id))).mappings()
        return dict(row.one())


async def reserved_order(m: Messaging, seed: int) -> tuple[UUID, OrderPlaced]:
    event = make_order(random.Random(seed))
    async with m.unit_of_work() as uow:
        await use_cases.orders.place_order(uow, event, timeouts=T)
    async with m.unit_of_work() as uow:
        await use_cases.orders.record_stock_reserved(
            uow,
            StockReserved(
                order_id=event.order_id,
                occurred_at=NOW,
                allocations=[Allocation(sku=event.lines[0].sku, warehouse="east", quantity=1)],
            ),
            timeouts=T,
        )
    return event.order_id, event


async def test_a_cancel_racing_the_payment_answer_ends_in_exactly_one_outcome(
    messaging: Messaging,
) -> None:
    for seed in range(10, 16):
        order_id, event = await reserved_order(messaging, seed)
        captured = PaymentCaptured(
            order_id=order_id,
            occurred_at=NOW,
            payment_id="pay_r",
            amount=event.total,
            provider_reference="sim_r",
        )

        async def cancel(oid: UUID = order_id) -> None:
            async with messaging.unit_of_work() as uow:
                await use_cases.orders.cancel_order(uow, oid, reason="race", timeouts=T)

        async def capture(ev: PaymentCaptured = captured) -> None:
            async with messaging.unit_of_work() as uow:
                await use_cases.orders.record_payment_captured(uow, ev, timeouts=T)

        await asyncio.gather(cancel(), capture(), cancel())
        row = await order_row(messaging, order_id)
        async with messaging.database.transaction() as s:
            sent = (
                await s.scalars(
                    select(outbox.c.message_type).where(outbox.c.message_key == str(order_id))
                )
            ).all()
        # Whichever came first, the other saw its result: one cancellation and one
        # release. Cancelled first: the late capture is ignored and one refund-or-void
        # follows it. Captured first: ShipOrder is out, so the refund and the public
        # OrderCancelled wait until the stock is confirmed back.
        assert row["status"] == "cancelling"
        if "OrderPaid" in sent:
            assert sent.count("ShipOrder") == 1
            assert "RefundPayment" not in sent
            assert "OrderCancelled" not in sent
            assert row["pending_compensations"] == ["refund_after_release", "release_stock"]
        else:
            assert "ShipOrder" not in sent
            assert sent.count("RefundPayment") == 1
            assert sent.count("OrderCancelled") == 1
        assert sent.count("ReleaseStock") == 1


async def test_deadlines_resend_then_compensate_and_survive_a_new_process(
    messaging: Messaging,
) -> None:
    event = make_order(random.Random(20))
    async with messaging.unit_of_work() as uow:
        await use_cases.orders.place_order(uow, event, timeouts=T)
    # The deadline is in the database; move it to the past as time would.
    async with messaging.database.transaction() as s:
        await s.execute(orders.update().values(deadline_at=NOW - timedelta(seconds=1)))
    assert await process_due_deadlines(messaging) == 1
    assert (await order_row(messaging, event.order_id))["resends"] == 1
    async with messaging.database.transaction() as s:
        await s.execute(orders.update().values(deadline_at=NOW - timedelta(seconds=1)))
    # A new Messaging stands in for a restarted process: nothing lives in memory.
    restarted = Messaging(
        database=messaging.database,
        outbox=orm.outbox,
        inbox=orm.inbox,
        service="order",
        signal=OutboxSignal(),
        vault=VAULT,
    )
    assert await process_due_deadlines(restarted) == 1
    row = await order_row(messaging, event.order_id)
    assert row["status"] == "cancelling"
    assert row["pending_compensations"] == ["release_stock"]
    assert await outbox_types(messaging) == [
        "OrderConfirmed",
        "ReserveStock",
        "ReserveStock",
        "ReleaseStock",
        "OrderCancelled",
    ]


async def test_operator_actions_are_audited_and_refused_when_they_do_not_apply(
    messaging: Messaging,
) -> None:
    order_id, _ = await reserved_order(messaging, 30)
    async with messaging.unit_of_work() as uow:
        await use_cases.orders.retry_saga_step(
            uow,
            order_id,
            operator="ops-ann",
            reason="payment was down",
            timeouts=T,
        )
    async with messaging.unit_of_work() as uow:
        await use_cases.orders.force_compensation(
            uow,
            order_id,
            operator="ops-ann",
            reason="customer called",
            timeouts=T,
        )
    with pytest.raises(OrderStateError, match="only an order awaiting"):
        async with messaging.unit_of_work() as uow:
            await use_cases.orders.force_compensation(
                uow,
                order_id,
                operator="ops-bob",
                reason="again",
                timeouts=T,
            )
    async with messaging.database.transaction() as s:
        audit = (
            await s.execute(
                select(
                    orm.saga_operator_actions.c.action,
                    orm.saga_operator_actions.c.operator,
                    orm.saga_operator_actions.c.status_before,
                    orm.saga_operator_actions.c.status_after,
                    orm.saga_operator_actions.c.messages_sent,
                ).order_by(orm.saga_operator_actions.c.id)
            )
        ).all()
        history = (
            await s.execute(
                select(order_status_history.c.status, order_status_history.c.caused_by)
                .where(order_status_history.c.order_id == order_id)
                .order_by(order_status_history.c.id)
            )
        ).all()
    assert [tuple(a) for a in audit] == [
        ("retry", "ops-ann", "reserved", "reserved", ["CapturePayment"]),
        (
            "compensate",
            "ops-ann",
            "reserved",
            "cancelling",
            ["RefundPayment", "ReleaseStock", "OrderCancelled"],
        ),
    ]
    assert history[-1] == ("cancelling", "operator:ops-ann")


async def test_the_payment_command_carries_the_methods_display_data_never_more(
    messaging: Messaging,
) -> None:
    event = make_order(random.Random(4), method="debit_card")
    async with messaging.unit_of_work() as uow:
        await use_cases.orders.place_order(uow, event, timeouts=T)
    line = event.lines[0]
    reserved = StockReserved(
        order_id=event.order_id,
        occurred_at=NOW,
        allocations=[Allocation(sku=line.sku, warehouse="east", quantity=line.quantity)],
    )

    async with messaging.unit_of_work() as uow:
        await use_cases.orders.record_stock_reserved(uow, reserved, timeouts=T)

    async with messaging.database.transaction() as s:
        payload = await s.scalar(
            select(outbox.c.payload).where(outbox.c.message_type == "CapturePayment")
        )
    assert payload is not None
    sent = CapturePayment.model_validate_json(payload)
    assert sent.payment == event.payment
    assert (sent.payment.method, sent.payment.last4) == ("debit_card", event.payment.last4)
    assert sent.payment.brand is not None
