"""Processes die: SIGKILL mid-load, a second replica killed, a whole history replayed.

After each fault every order must reach a terminal state and every invariant
must hold across the six databases (orderly_ops.invariants).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition

from orderly_dev.checkout import make_order
from orderly_dev.eventually import eventually_sync
from orderly_dev.faults import (
    assert_invariants,
    databases,
    duplicates_seen,
    place_orders,
    query,
    snapshot,
    subscriptions,
    wait_quiet,
    wait_terminal,
)
from orderly_dev.returns import Returns
from orderly_dev.servers import free_port
from orderly_dev.stack import SERVICES, ServiceProcess, Stack
from orderly_kit.topic_reader import read_to_end
from orderly_ops.invariants import NO_DEAD_LETTERS, check
from orderly_schemas import topics
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.cloudevents import TYPE

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.faults]

LOAD = 240  # orders per kill test
RATE = 40.0  # orders per second: the load lasts six seconds


def mixed_load(seed: int, n: int = LOAD) -> list[OrderPlaced]:
    """Mostly good orders, some short of stock, some declined, some refused by the carrier."""
    rng = random.Random(seed)
    load = []
    for i in range(n):
        if i % 20 == 7:
            load.append(make_order(rng, sold_out=True))
        elif i % 20 == 13:
            load.append(make_order(rng, payment_token="tok_decline_card"))
        elif i % 40 == 17:
            load.append(make_order(rng, postal_code="00000"))
        else:
            load.append(make_order(rng))
    return load


async def load_with_fault(
    stack: Stack, load: list[OrderPlaced], fault_after: float, fault: object
) -> None:
    """Place ``load`` at RATE, and run the blocking ``fault`` after ``fault_after`` seconds."""

    async def inject() -> None:
        await asyncio.sleep(fault_after)
        await asyncio.to_thread(fault)  # type: ignore[arg-type]

    await asyncio.gather(place_orders(stack, load, rate_per_second=RATE), inject())


def counts(final: dict[UUID, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for status in final.values():
        out[status] = out.get(status, 0) + 1
    return out


@pytest.mark.parametrize("victim", list(SERVICES))
def test_a_service_killed_mid_load_finishes_every_saga(faults: Stack, victim: str) -> None:
    started, baseline = datetime.now(UTC), snapshot(faults)
    load = mixed_load(seed=hash(victim) % 1000)

    def kill_and_restart() -> None:
        faults.processes[victim].kill()  # SIGKILL: no goodbye, no flush, no offset commit
        time.sleep(2)
        faults.restart(victim)

    asyncio.run(load_with_fault(faults, load, 2.0, kill_and_restart))
    final = wait_terminal(faults, [o.order_id for o in load], 300)

    report = assert_invariants(faults, since=started, baseline=baseline)
    assert_sensible_endings(faults, load, final)
    assert report.stats["orders_by_status"] == dict(sorted(counts(final).items()))


def assert_sensible_endings(stack: Stack, load: list[OrderPlaced], final: dict[UUID, str]) -> None:
    """Each order ended as its kind allows. An order the outage kept waiting longer than
    the saga's patience (reply timeout times re-sends) is compensated: cancelled, not lost.

    Most must still complete: a run where the kill (or a machine too busy to answer
    within the saga's patience) cancels most orders has not tested the happy path.
    """
    good = [
        o.order_id
        for o in load
        if not any(line.sku == "DEMO-SOLDOUT" for line in o.lines)
        and not o.payment.token.startswith("tok_decline")
        and o.shipping_address.postal_code != "00000"
    ]
    for order in load:
        status = final[order.order_id]
        if any(line.sku == "DEMO-SOLDOUT" for line in order.lines):
            assert status in ("rejected", "cancelled"), (order.order_id, status)
        elif (
            order.payment.token.startswith("tok_decline")
            or order.shipping_address.postal_code == "00000"
        ):
            assert status == "cancelled", (order.order_id, status)
        else:
            assert status in ("completed", "cancelled"), (order.order_id, status)
    why_cancelled = Counter(
        reason
        for (reason,) in query(
            stack,
            "order",
            "SELECT cancel_reason FROM orders WHERE status = 'cancelled' AND order_id = ANY(:ids)",
            ids=good,
        )
    )
    assert counts(final).get("completed", 0) > LOAD // 2, (counts(final), why_cancelled)


def test_two_replicas_in_one_group_one_killed_lose_nothing_and_do_nothing_twice(
    faults: Stack,
) -> None:
    """A second payment process joins the group; the first is killed mid-load."""
    started, baseline = datetime.now(UTC), snapshot(faults)
    first = faults.processes["payment"]
    port = free_port()
    second = ServiceProcess(
        first.spec, port, faults.service_env("payment", port), faults.root / "payment-2.log"
    )
    second.start()
    try:
        second.wait_ready()
        second.wait_consumers()
        load = mixed_load(seed=77)
        asyncio.run(load_with_fault(faults, load, 2.5, first.kill))
        final = wait_terminal(faults, [o.order_id for o in load], 300)
        handled_by_second = received_messages(faults.metrics(second.url))
    finally:
        second.stop()
        faults.restart("payment")

    assert handled_by_second > 0
    assert_sensible_endings(faults, load, final)
    assert_invariants(faults, since=started, baseline=baseline)


def received_messages(text: str) -> float:
    """What one process consumed, from FastStream's Prometheus counter in its /metrics."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("orderly_received_messages_total{")
    )


async def republish_all(bootstrap: str, names: list[str]) -> dict[tuple[str, str | None], int]:
    """Read each topic from its first offset and publish every record again, as it was.

    Returns how many records went out per (topic, ``ce_type``; None for a record without).
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    sent: dict[tuple[str, str | None], int] = {}
    try:
        for name in names:
            parts = [TopicPartition(name, p) for p in sorted(await producer.partitions_for(name))]
            # Up to each partition's end when the read began: not what is republished now.
            for r in await read_to_end(bootstrap, parts, client_id="replay-everything"):
                headers = list(r.headers or ())
                await producer.send(name, r.value, key=r.key, headers=headers)
                kind = next((v.decode() for k, v in headers if k == TYPE), None)
                sent[(name, kind)] = sent.get((name, kind), 0) + 1
            await producer.flush()
    finally:
        await producer.stop()
    return sent


RETURNS_LOAD = 30  # returns per kill test
#: Of those, the returns asking for the same goods again (every fifth from the third on).
EXCHANGES = len(range(3, RETURNS_LOAD, 5))


def test_returns_finish_with_order_inventory_and_payment_killed_mid_way(faults: Stack) -> None:
    """Returns of freshly completed orders, some of them exchanges for the same goods,
    while the three services a return goes through are killed one after another and
    restarted: each return ends once, refunded once, restocked once, and each exchange's
    replacement shipped once."""
    started, baseline = datetime.now(UTC), snapshot(faults)
    rng = random.Random(RETURNS_LOAD)
    load = [make_order(rng) for _ in range(RETURNS_LOAD)]
    asyncio.run(place_orders(faults, load, rate_per_second=RATE))
    final = wait_terminal(faults, [o.order_id for o in load], 120)
    assert set(final.values()) == {"completed"}, counts(final)
    orders = query(
        faults,
        "order",
        "SELECT o.order_id, o.customer_id, l.sku FROM orders o"
        " JOIN order_lines l ON l.order_id = o.order_id AND l.line_no = 1"
        " WHERE o.order_id = ANY(:ids)",
        ids=[o.order_id for o in load],
    )

    def kill_one_after_another() -> None:
        for victim in ("order", "inventory", "payment"):
            time.sleep(1.5)
            faults.processes[victim].kill()
            time.sleep(2)
            faults.restart(victim)

    ended = asyncio.run(returns_with_fault(faults, orders, kill_one_after_another))

    assert Counter(r["status"] for r in ended.values()) == {
        "completed": RETURNS_LOAD - RETURNS_LOAD // 5,
        "rejected": RETURNS_LOAD // 5,
    }
    exchanges = [r for r in ended.values() if r["resolution"] == "exchange"]
    assert len(exchanges) == EXCHANGES
    assert {(r["replacement_state"], r["refunded"]["amount"]) for r in exchanges} == {
        ("shipped", 0)
    }
    shipped = query(
        faults,
        "inventory",
        "SELECT replacement_id, status FROM replacements WHERE order_id = ANY(:ids)",
        ids=[r["order_id"] for r in exchanges],
    )
    assert len(shipped) == EXCHANGES  # one replacement each, however often it was asked for
    assert {s.status for s in shipped} <= {"shipped", "delivered"}
    refunded = sum(r["refunded"]["amount"] for r in ended.values() if r["refunded"])
    payments = query(
        faults,
        "payment",
        "SELECT COALESCE(SUM(amount), 0) AS total, COUNT(*) AS n FROM payment_operations"
        " WHERE kind = 'refund' AND status = 'succeeded' AND refund_id = ANY(:ids)",
        ids=[r["refund_id"] for r in ended.values() if r["refund_id"]],
    )
    refunds = RETURNS_LOAD - RETURNS_LOAD // 5 - EXCHANGES  # an exchange for the same goods: none
    assert (payments[0].total, payments[0].n) == (refunded, refunds)
    assert_invariants(faults, since=started, baseline=baseline)


async def returns_with_fault(
    stack: Stack, orders: list[Any], fault: Callable[[], None]
) -> dict[str, Any]:
    """Ask a return of one unit of each order's first line (every fifth rejected by
    support, the others approved; every fifth from the third on an exchange for the same
    unit), act as the warehouse on each parcel that arrives, while ``fault`` runs in a
    thread; returns every return once it ended."""
    async with httpx.AsyncClient(timeout=10) as client:
        returns = Returns(stack, client)
        asked = []
        for i, o in enumerate(orders):
            reason = "no_longer_needed" if i % 5 == 0 else "damaged"
            one = [{"sku": o.sku, "quantity": 1}]
            again = one if i % 5 == 3 else ()
            asked.append(
                await returns.ask(o.order_id, o.customer_id, one, reason, replacement=again)
            )
        for i, r in enumerate(asked):
            if i % 5 == 0:
                await returns.reject(r["return_id"], "worn")
            elif r["status"] == "requested":
                await returns.approve(r["return_id"])
        faulting = asyncio.create_task(asyncio.to_thread(fault))
        ended: dict[str, Any] = {}
        inspected: set[str] = set()
        deadline = time.monotonic() + 240
        while len(ended) < len(asked):
            assert time.monotonic() < deadline, f"returns still open: {len(asked) - len(ended)}"
            for r in asked:
                rid = r["return_id"]
                if rid in ended:
                    continue
                try:
                    seen = await returns.seen(rid)
                    if seen["status"] in ("completed", "rejected"):
                        ended[rid] = seen
                    elif seen["status"] == "arrived" and rid not in inspected:
                        line = seen["lines"][0]
                        done = await returns.inspect(seen, [{**line, "condition": "resellable"}])
                        if done.status_code in (200, 201):
                            inspected.add(rid)
                except httpx.HTTPError:
                    pass  # a service is down: ask again on the next round
            await asyncio.sleep(0.5)
        await faulting
        return ended


def state_of_everything(stack: Stack) -> dict[str, object]:
    """What a replay must not change: every order, stock level, payment, refund, notification."""
    return {
        "orders": query(
            stack, "order", "SELECT order_id, status, resends FROM orders ORDER BY order_id"
        ),
        "history": query(stack, "order", "SELECT COUNT(*) FROM order_status_history"),
        "stock": query(
            stack,
            "inventory",
            "SELECT sku, warehouse, on_hand, reserved FROM stock_levels ORDER BY sku, warehouse",
        ),
        "reservations": query(
            stack, "inventory", "SELECT order_id, sku, status FROM reservations ORDER BY 1, 2"
        ),
        "shipments": query(stack, "inventory", "SELECT COUNT(*) FROM shipments"),
        "payments": query(stack, "payment", "SELECT order_id, status FROM payments ORDER BY 1"),
        "provider": query(stack, "payment", "SELECT COUNT(*) FROM sim_provider_operations"),
        "notifications": query(stack, "notification", "SELECT COUNT(*) FROM notifications"),
        "stages": query(stack, "analytics", "SELECT order_id, status FROM order_stages ORDER BY 1"),
        "returns": query(
            stack,
            "order",
            "SELECT return_id, status, refund_amount, resends FROM returns ORDER BY 1",
        ),
        "return history": query(stack, "order", "SELECT COUNT(*) FROM return_status_history"),
        "restocks": query(stack, "inventory", "SELECT COUNT(*) FROM return_restocks"),
        "replacements": query(
            stack, "inventory", "SELECT replacement_id, status FROM replacements ORDER BY 1"
        ),
        "exchanges": query(
            stack,
            "order",
            "SELECT return_id, replacement_state, charged FROM returns"
            " WHERE replacement_state IS NOT NULL ORDER BY 1",
        ),
        "claims": query(stack, "order", "SELECT claim_id, status FROM claims ORDER BY 1"),
        "charges": query(stack, "payment", "SELECT COUNT(*) FROM charges"),
    }


def test_replaying_every_topic_from_the_first_offset_changes_nothing(faults: Stack) -> None:
    everyone = [r.order_id for r in query(faults, "order", "SELECT order_id FROM orders")]
    wait_terminal(faults, everyone, 300)
    wait_quiet(faults)
    before = state_of_everything(faults)
    started = datetime.now(UTC)
    replayed = [
        topics.CHECKOUT_ORDERS,
        topics.ORDER_EVENTS,
        topics.ORDER_RETURNS,
        topics.INVENTORY_COMMANDS,
        topics.INVENTORY_EVENTS,
        topics.PAYMENT_COMMANDS,
        topics.PAYMENT_EVENTS,
        topics.SUPPORT_EVENTS,
    ]

    dead_before = dead_letters(faults)
    duplicates_before = duplicates_seen(faults)
    sent = asyncio.run(republish_all(faults.servers.kafka.bootstrap, replayed))
    # Every consumer reads every replayed message of its topic of a type it handles (or
    # without a type: a dead letter): its inbox skips it as a duplicate, except a dead
    # letter, which it is allowed to try again.
    expected = {
        (service, topic): sum(
            n for (t, kind), n in sent.items() if t == topic and (kind is None or kind in handled)
        )
        - sum(1 for t, _ in dead_before[service] if t == topic)
        for (service, topic), handled in subscriptions().items()
    }

    def replay_read() -> bool:
        now = duplicates_seen(faults)
        return all(
            now.get(k, 0.0) - duplicates_before.get(k, 0.0) >= n for k, n in expected.items()
        )

    eventually_sync(
        replay_read,
        within=240,
        what=f"duplicates per consumer and topic up by {expected} from {duplicates_before}",
        every=1,
    )

    assert sum(sent.values()) > 1000
    assert state_of_everything(faults) == before
    # A poison message in the history is dead-lettered again, and nothing new is.
    assert dead_letters(faults) == dead_before
    report = check(databases(faults), since=started)
    broken = [v for v in report.violations if v.invariant != NO_DEAD_LETTERS]
    assert not broken, report.summary()


def dead_letters(stack: Stack) -> dict[str, list[tuple[str, str]]]:
    """The (topic, message id) of each message a service holds as dead-lettered."""
    return {
        name: [
            (r.topic, r.message_id)
            for r in query(
                stack,
                name,
                "SELECT topic, message_id FROM inbox WHERE outcome = 'dead_lettered' ORDER BY 1, 2",
            )
        ]
        for name in SERVICES
    }
