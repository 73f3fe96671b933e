"""The payment service killed after the provider executed, before its own commit.

The simulated provider executes a ``tok_hold…`` capture (a ``tok_refundhold…``
refund) and then keeps its answer back, as a response lost on the network would:
the payment service's transaction is open, the money has moved. The test kills the
service with SIGKILL right then, restarts it, and shows that the redelivered
command asks again under the same idempotency key and gets the first answer: the
provider executed the capture (the refund) exactly once, and the saga finishes.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from uuid import UUID

import pytest

from orderly_dev.checkout import make_order
from orderly_dev.eventually import eventually_sync
from orderly_dev.faults import assert_invariants, place_orders, query, snapshot, wait_terminal
from orderly_dev.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.faults]

RNG = random.Random(5)


def executed(stack: Stack, order_id: UUID) -> list[tuple[str, str]]:
    """What the provider executed for the order, in its own record."""
    rows = query(
        stack,
        "payment",
        "SELECT kind, outcome FROM sim_provider_operations WHERE order_id = :id ORDER BY id",
        id=order_id,
    )
    return [(r.kind, r.outcome) for r in rows]


def ledger(stack: Stack, order_id: UUID) -> list[tuple[str, str]]:
    """The payment service's ledger entries for the order."""
    rows = query(
        stack,
        "payment",
        "SELECT kind, status FROM payment_operations WHERE order_id = :id ORDER BY id",
        id=order_id,
    )
    return [(r.kind, r.status) for r in rows]


def kill_while_the_answer_is_held(stack: Stack, order_id: UUID, kind: str) -> None:
    """SIGKILL the payment service once the provider executed ``kind``, then restart it."""
    eventually_sync(
        lambda: (kind, "succeeded") in executed(stack, order_id),
        within=90,
        what=f"the provider executing the {kind} of order {order_id}",
    )
    # Written ahead and still unanswered: our transaction has not committed.
    assert (kind, "requested") in ledger(stack, order_id)
    stack.processes["payment"].kill()
    stack.restart("payment")


def test_killed_between_the_capture_and_the_commit_charges_once(faults: Stack) -> None:
    started, baseline = datetime.now(UTC), snapshot(faults)
    order = make_order(RNG, payment_token="tok_hold_lost_answer")
    asyncio.run(place_orders(faults, [order]))

    kill_while_the_answer_is_held(faults, order.order_id, "capture")

    final = wait_terminal(faults, [order.order_id], 150)
    assert final[order.order_id] == "completed"
    assert executed(faults, order.order_id) == [
        ("authorize", "succeeded"),
        ("capture", "succeeded"),
    ]
    assert ledger(faults, order.order_id) == [("authorize", "succeeded"), ("capture", "succeeded")]
    assert_invariants(faults, since=started, baseline=baseline)


def test_killed_between_the_refund_and_the_commit_refunds_once(faults: Stack) -> None:
    started, baseline = datetime.now(UTC), snapshot(faults)
    # The carrier refuses postal code 00000: the saga refunds in full and cancels.
    order = make_order(RNG, payment_token="tok_refundhold_lost_answer", postal_code="00000")
    asyncio.run(place_orders(faults, [order]))

    kill_while_the_answer_is_held(faults, order.order_id, "refund")

    final = wait_terminal(faults, [order.order_id], 150)
    assert final[order.order_id] == "cancelled"
    assert executed(faults, order.order_id) == [
        ("authorize", "succeeded"),
        ("capture", "succeeded"),
        ("refund", "succeeded"),
    ]
    assert ledger(faults, order.order_id) == [
        ("authorize", "succeeded"),
        ("capture", "succeeded"),
        ("refund", "succeeded"),
    ]
    assert_invariants(faults, since=started, baseline=baseline)
