"""Every row of the compensation matrix, end to end on the running suite.

Each test drives real orders into a failure, then checks the order's final state,
the stock, the payment records and the events published, and finally every
invariant across the six databases (orderly_ops).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from orderly_dev.checkout import SOLDOUT_SKU, make_order
from orderly_dev.eventually import eventually_sync
from orderly_dev.faults import (
    assert_invariants,
    place_orders,
    query,
    snapshot,
    statuses,
    wait_terminal,
)
from orderly_dev.returns import Returns
from orderly_dev.stack import Stack
from orderly_dev.watch import read_topic
from orderly_kit.auth import Role
from orderly_schemas import topics
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.topics import dead_letter_topic

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.faults]

RNG = random.Random(3)


@pytest.fixture
def started() -> datetime:
    return datetime.now(UTC)


def orders(n: int, **kw: object) -> list[OrderPlaced]:
    return [make_order(RNG, **kw) for _ in range(n)]  # type: ignore[arg-type]


def owner(stack: Stack, order: OrderPlaced) -> dict[str, str]:
    """What the customer who placed ``order`` sends."""
    return stack.headers(Role.CUSTOMER, customer_id=order.customer.customer_id)


def events(stack: Stack, topic: str, order_id: UUID) -> list[str]:
    """The types of ``order_id``'s messages on ``topic``, in the order they were published."""
    seen = asyncio.run(read_topic(stack.servers.kafka.bootstrap, topic))
    return [s.type for s in seen if s.body.get("order_id") == str(order_id)]


def history(stack: Stack, order_id: UUID) -> list[str]:
    rows = query(
        stack,
        "order",
        "SELECT status FROM order_status_history WHERE order_id = :id ORDER BY id",
        id=order_id,
    )
    return [r.status for r in rows]


def reservations(stack: Stack, order_id: UUID) -> dict[str, int]:
    rows = query(
        stack,
        "inventory",
        "SELECT status, SUM(quantity) AS n FROM reservations WHERE order_id = :id GROUP BY status",
        id=order_id,
    )
    return {r.status: int(r.n) for r in rows}


def provider_operations(stack: Stack, order_id: UUID) -> list[tuple[str, str, int]]:
    rows = query(
        stack,
        "payment",
        "SELECT kind, outcome, amount FROM sim_provider_operations WHERE order_id = :id"
        " ORDER BY id",
        id=order_id,
    )
    return [(r.kind, r.outcome, int(r.amount)) for r in rows]


@pytest.fixture
def baseline(faults: Stack) -> dict[str, int]:
    return snapshot(faults)


def test_short_stock_is_rejected_and_nothing_is_held_or_charged(
    faults: Stack, started: datetime, baseline: dict[str, int]
) -> None:
    short = orders(3, sold_out=True)
    fine = orders(3)
    asyncio.run(place_orders(faults, short + fine))

    final = wait_terminal(faults, [o.order_id for o in short + fine], 120)

    assert [final[o.order_id] for o in short] == ["rejected"] * 3
    assert [final[o.order_id] for o in fine] == ["completed"] * 3
    for o in short:
        assert reservations(faults, o.order_id) == {}
        assert provider_operations(faults, o.order_id) == []
        assert events(faults, topics.ORDER_EVENTS, o.order_id) == [
            "OrderConfirmed",
            "OrderRejected",
        ]
    assert SOLDOUT_SKU in str(query(faults, "order", "SELECT reason FROM order_status_history"))
    assert_invariants(faults, since=started, baseline=baseline)


def test_a_declined_payment_releases_the_stock_and_cancels(
    faults: Stack, started: datetime, baseline: dict[str, int]
) -> None:
    declined = orders(3, payment_token="tok_decline_insufficient_funds")
    asyncio.run(place_orders(faults, declined))

    final = wait_terminal(faults, [o.order_id for o in declined], 120)

    for o in declined:
        assert final[o.order_id] == "cancelled"
        assert history(faults, o.order_id) == ["confirmed", "reserved", "cancelling", "cancelled"]
        assert reservations(faults, o.order_id) == {"released": sum(x.quantity for x in o.lines)}
        assert provider_operations(faults, o.order_id) == [("authorize", "failed", o.total.amount)]
        assert events(faults, topics.ORDER_EVENTS, o.order_id) == [
            "OrderConfirmed",
            "OrderCancelled",
        ]
        assert "StockReleased" in events(faults, topics.INVENTORY_EVENTS, o.order_id)
    assert_invariants(faults, since=started, baseline=baseline)


def test_an_unanswered_payment_is_asked_again_then_voided_and_released(
    faults: Stack, started: datetime, baseline: dict[str, int]
) -> None:
    # The provider never answers tok_timeout: the payment service dead-letters each try.
    (silent,) = orders(1, payment_token="tok_timeout_gateway")
    asyncio.run(place_orders(faults, [silent]))

    final = wait_terminal(faults, [silent.order_id], 120)

    assert final[silent.order_id] == "cancelled"
    commands = events(faults, topics.PAYMENT_COMMANDS, silent.order_id)
    assert commands == ["CapturePayment"] * 3 + ["RefundPayment"]  # first try + 2 re-sends
    assert events(faults, topics.PAYMENT_EVENTS, silent.order_id) == ["PaymentVoided"]
    assert provider_operations(faults, silent.order_id) == []
    assert reservations(faults, silent.order_id) == {
        "released": sum(x.quantity for x in silent.lines)
    }
    dead = asyncio.run(
        read_topic(faults.servers.kafka.bootstrap, dead_letter_topic(topics.PAYMENT_COMMANDS))
    )
    mine = [d for d in dead if d.body.get("order_id") == str(silent.order_id)]
    assert len(mine) == 3
    assert {d.headers["dlq_error_type"] for d in mine} == {"ProviderTimeoutError"}
    assert all("no answer from the provider" in d.headers["dlq_error"] for d in mine)

    # An operator replays the dead letters: the order was voided, so nothing is charged.
    out = faults.run_command("payment", "dead-letters", "replay", "--all", "--operator", "test")
    assert "replayed" in out.lower()
    eventually_sync(
        lambda: waiting_dead_letters(faults, "payment") == 0,
        within=60,
        what="no dead letter of payment waiting",
    )
    assert provider_operations(faults, silent.order_id) == []
    assert events(faults, topics.PAYMENT_EVENTS, silent.order_id)[1:] == ["PaymentFailed"] * 3
    assert statuses(faults, [silent.order_id])[silent.order_id] == "cancelled"
    assert_invariants(faults, since=started, baseline=baseline)


def test_a_command_waiting_in_a_stopped_services_queue_is_neither_resent_nor_compensated(
    faults: Stack, started: datetime, baseline: dict[str, int]
) -> None:
    # The warehouse is down: ReserveStock waits in its queue far longer than the saga's
    # reply timeout (5 s) times its re-sends (2).
    held_before = deadlines_held(faults, "confirmed")
    faults.processes["inventory"].stop()
    try:
        (waiting,) = orders(1)
        asyncio.run(place_orders(faults, [waiting]))
        # Three deadlines ran out (enough to re-send twice and then compensate), each
        # seen as a queue rather than silence.
        eventually_sync(
            lambda: deadlines_held(faults, "confirmed") >= held_before + 3,
            within=120,
            what="three deadlines held by the queue",
        )
        assert statuses(faults, [waiting.order_id])[waiting.order_id] == "confirmed"
        rows = query(
            faults, "order", "SELECT resends FROM orders WHERE order_id = :id", id=waiting.order_id
        )
        assert rows[0].resends == 0
        assert events(faults, topics.INVENTORY_COMMANDS, waiting.order_id) == ["ReserveStock"]
    finally:
        faults.restart("inventory")

    final = wait_terminal(faults, [waiting.order_id], 120)

    assert final[waiting.order_id] == "completed"
    assert events(faults, topics.INVENTORY_COMMANDS, waiting.order_id).count("ReserveStock") == 1
    assert_invariants(faults, since=started, baseline=baseline)


def test_a_failed_shipment_refunds_in_full_and_releases(
    faults: Stack, started: datetime, baseline: dict[str, int]
) -> None:
    refused = orders(2, postal_code="00000")
    asyncio.run(place_orders(faults, refused))

    final = wait_terminal(faults, [o.order_id for o in refused], 120)

    for o in refused:
        assert final[o.order_id] == "cancelled"
        assert history(faults, o.order_id) == [
            "confirmed",
            "reserved",
            "paid",
            "cancelling",
            "cancelled",
        ]
        assert provider_operations(faults, o.order_id) == [
            ("authorize", "succeeded", o.total.amount),
            ("capture", "succeeded", o.total.amount),
            ("refund", "succeeded", o.total.amount),
        ]
        assert reservations(faults, o.order_id) == {"released": sum(x.quantity for x in o.lines)}
        assert "ShipmentFailed" in events(faults, topics.INVENTORY_EVENTS, o.order_id)
        assert events(faults, topics.PAYMENT_EVENTS, o.order_id) == [
            "PaymentCaptured",
            "PaymentRefunded",
        ]
    assert_invariants(faults, since=started, baseline=baseline)


def test_a_refund_that_keeps_failing_needs_attention_and_finance_is_told(
    faults: Stack, started: datetime, baseline: dict[str, int]
) -> None:
    (stuck,) = orders(1, postal_code="00000", payment_token="tok_refundfail_issuer")
    asyncio.run(place_orders(faults, [stuck]))

    final = wait_terminal(faults, [stuck.order_id], 120)

    assert final[stuck.order_id] == "needs_attention"
    ops = provider_operations(faults, stuck.order_id)
    assert ops[:2] == [
        ("authorize", "succeeded", stuck.total.amount),
        ("capture", "succeeded", stuck.total.amount),
    ]
    assert [op[:2] for op in ops[2:]] == [("refund", "failed")] * 3  # PAYMENT_REFUND_MAX_ATTEMPTS
    # The stock came back although the refund did not: one failure holds back nothing else.
    assert reservations(faults, stuck.order_id) == {
        "released": sum(x.quantity for x in stuck.lines)
    }
    assert events(faults, topics.ORDER_EVENTS, stuck.order_id)[-1] == "OrderNeedsAttention"
    eventually_sync(
        lambda: finance_told(faults, stuck.order_id), within=30, what="finance told of the refund"
    )
    assert_invariants(faults, since=started, baseline=baseline)


def test_a_return_whose_refund_keeps_failing_needs_attention_and_support_is_told(
    faults: Stack, started: datetime, baseline: dict[str, int]
) -> None:
    (order,) = orders(1, payment_token="tok_refundfail_issuer")
    asyncio.run(place_orders(faults, [order]))
    assert wait_terminal(faults, [order.order_id], 120)[order.order_id] == "completed"
    line = order.lines[0]

    async def return_one() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as client:
            returns = Returns(faults, client)
            asked = await returns.ask(
                order.order_id,
                order.customer.customer_id,
                [{"sku": line.sku, "quantity": 1}],
                "wrong_item",
            )
            if asked["status"] == "requested":
                await returns.approve(asked["return_id"])
            arrived = await returns.reached(asked["return_id"], "arrived")
            inspected = await returns.inspect(
                arrived, [{"sku": line.sku, "quantity": 1, "condition": "resellable"}]
            )
            assert inspected.status_code == 201, inspected.text
            return await returns.reached(asked["return_id"], "needs_attention", within=90)

    stuck = asyncio.run(return_one())

    assert stuck["closing_reason"].startswith("refund failed after 3 attempt(s)")
    assert [h["status"] for h in stuck["history"]][-2:] == ["refunding", "needs_attention"]
    refunds = [op for op in provider_operations(faults, order.order_id) if op[0] == "refund"]
    assert [op[:2] for op in refunds] == [("refund", "failed")] * 3  # PAYMENT_REFUND_MAX_ATTEMPTS
    eventually_sync(
        lambda: (
            [
                r.recipient
                for r in query(
                    faults,
                    "notification",
                    "SELECT recipient FROM notifications WHERE order_id = :id"
                    " AND template = 'return_needs_attention'",
                    id=order.order_id,
                )
            ]
            == ["support@orderly.example"]
        ),
        within=30,
        what="support told of the return's refund",
    )
    assert_invariants(faults, since=started, baseline=baseline)


def test_a_customer_cancel_before_payment_is_answered_voids_or_refunds(
    faults: Stack, started: datetime, baseline: dict[str, int]
) -> None:
    payment = faults.processes["payment"]
    (order,) = orders(1)
    with paused(payment.proc.pid if payment.proc else 0):
        asyncio.run(place_orders(faults, [order]))
        eventually_sync(
            lambda: statuses(faults, [order.order_id]).get(order.order_id) == "reserved",
            within=30,
            what="the order reserved",
        )
        answer = httpx.post(
            f"{faults.url('order')}/orders/{order.order_id}/cancel",
            headers=owner(faults, order),
            json={"reason": "ordered the wrong size"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "cancelling"

    final = wait_terminal(faults, [order.order_id], 60)

    assert final[order.order_id] == "cancelled"
    # The capture was already queued when the customer cancelled: it ran, then the refund.
    assert provider_operations(faults, order.order_id) == [
        ("authorize", "succeeded", order.total.amount),
        ("capture", "succeeded", order.total.amount),
        ("refund", "succeeded", order.total.amount),
    ]
    assert reservations(faults, order.order_id) == {
        "released": sum(x.quantity for x in order.lines)
    }
    again = httpx.post(
        f"{faults.url('order')}/orders/{order.order_id}/cancel",
        headers=owner(faults, order),
        timeout=10,
    )
    assert again.status_code == 200  # cancelling a cancelled order changes nothing
    assert_invariants(faults, since=started, baseline=baseline)


def test_a_customer_cancel_after_payment_while_picking_releases_then_refunds(
    faults: Stack, started: datetime, baseline: dict[str, int]
) -> None:
    (order,) = orders(1)
    asyncio.run(place_orders(faults, [order]))
    eventually_sync(
        lambda: statuses(faults, [order.order_id]).get(order.order_id) == "paid",
        within=30,
        what="the order paid",
    )

    answer = httpx.post(
        f"{faults.url('order')}/orders/{order.order_id}/cancel",
        headers=owner(faults, order),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["pending_compensations"] == ["refund_after_release", "release_stock"]
    final = wait_terminal(faults, [order.order_id], 60)

    # The release reached the warehouse while it was picking: nothing shipped, all refunded.
    assert final[order.order_id] == "cancelled"
    assert reservations(faults, order.order_id) == {
        "released": sum(x.quantity for x in order.lines)
    }
    assert provider_operations(faults, order.order_id) == [
        ("authorize", "succeeded", order.total.amount),
        ("capture", "succeeded", order.total.amount),
        ("refund", "succeeded", order.total.amount),
    ]
    lifecycle = events(faults, topics.ORDER_EVENTS, order.order_id)
    assert lifecycle == ["OrderConfirmed", "OrderPaid", "OrderCancelled"]
    assert "OrderShipped" not in events(faults, topics.INVENTORY_EVENTS, order.order_id)
    assert_invariants(faults, since=started, baseline=baseline)


def test_a_cancel_after_shipment_is_refused_and_points_to_returns(faults: Stack) -> None:
    (order,) = orders(1)
    asyncio.run(place_orders(faults, [order]))
    eventually_sync(
        lambda: (
            statuses(faults, [order.order_id]).get(order.order_id)
            in ("shipped", "delivered", "completed")
        ),
        within=60,
        what="the order shipped",
    )

    answer = httpx.post(
        f"{faults.url('order')}/orders/{order.order_id}/cancel",
        headers=owner(faults, order),
        timeout=10,
    )

    assert answer.status_code == 409
    assert "return" in answer.json()["detail"]


# -- helpers --------------------------------------------------------------------------------
def deadlines_held(stack: Stack, status: str) -> float:
    """How often a deadline of an order in ``status`` found its command still queued."""
    metrics = stack.metrics(stack.url("order"))
    for line in metrics.splitlines():
        if (
            line.startswith("orderly_saga_deadlines_expired_total{")
            and f'status="{status}"' in line
            and 'action="held"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def waiting_dead_letters(stack: Stack, service: str) -> int:
    rows = query(stack, service, "SELECT COUNT(*) AS n FROM inbox WHERE outcome = 'dead_lettered'")
    return int(rows[0].n)


def finance_told(stack: Stack, order_id: UUID) -> bool:
    rows = query(
        stack,
        "notification",
        "SELECT recipient FROM notifications WHERE order_id = :id"
        " AND template = 'order_needs_attention'",
        id=order_id,
    )
    return [r.recipient for r in rows] == ["finance@orderly.example"]


class paused:
    """SIGSTOP a process for the block (it keeps its sockets; the broker sees a slow peer)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)
