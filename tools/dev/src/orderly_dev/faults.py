"""What the fault tests share: placing load, waiting for sagas to end, reading the databases,
and checking the suite's invariants (orderly_ops) on the stack's own databases."""

from __future__ import annotations

import asyncio
import functools
import importlib
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any
from uuid import UUID

from sqlalchemy import create_engine, text

from orderly_dev.checkout import Checkout
from orderly_dev.stack import SERVICES, Stack, database_name
from orderly_ops.invariants import TERMINAL, Databases, Report, check, stock_snapshot
from orderly_schemas import topics
from orderly_schemas.checkout import OrderPlaced


def databases(stack: Stack) -> Databases:
    """The stack's six databases, as the invariant checker wants them."""
    url = stack.servers.postgres.url
    return Databases(**{s: url(database_name(s)) for s in SERVICES})


def query(stack: Stack, service: str, sql: str, **params: Any) -> list[Any]:
    """Rows of ``sql`` on ``service``'s database (a short-lived sync connection)."""
    engine = create_engine(stack.servers.postgres.url(database_name(service)))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def statuses(stack: Stack, order_ids: Iterable[UUID]) -> dict[UUID, str]:
    """The saga status of each order that the order service knows."""
    rows = query(
        stack,
        "order",
        "SELECT order_id, status FROM orders WHERE order_id = ANY(:ids)",
        ids=list(order_ids),
    )
    return {r.order_id: r.status for r in rows}


def wait_terminal(
    stack: Stack, order_ids: Sequence[UUID], timeout: float, *, poll: float = 0.5
) -> dict[UUID, str]:
    """Wait until every order is terminal; returns the statuses (raises on timeout)."""
    deadline = time.monotonic() + timeout
    found: dict[UUID, str] = {}
    while time.monotonic() < deadline:
        found = statuses(stack, order_ids)
        if len(found) == len(order_ids) and all(s in TERMINAL for s in found.values()):
            return found
        time.sleep(poll)
    waiting = {str(i): found.get(i, "unknown") for i in order_ids if found.get(i) not in TERMINAL}
    raise TimeoutError(f"{len(waiting)} order(s) not terminal after {timeout}s: {waiting}")


async def place_orders(
    stack: Stack, orders: Sequence[OrderPlaced], *, rate_per_second: float | None = None
) -> None:
    """Publish ``orders`` as upstream checkout would, optionally spread at a fixed rate."""
    async with Checkout(stack.servers.kafka.bootstrap) as checkout:
        if rate_per_second is None:
            await asyncio.gather(*(checkout.place(o) for o in orders))
            return
        start = time.monotonic()
        for n, order in enumerate(orders):
            delay = start + n / rate_per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await checkout.place(order)


def snapshot(stack: Stack) -> dict[str, int]:
    return stock_snapshot(databases(stack))


def unsent(stack: Stack) -> int:
    """Outbox rows not yet published, over the six services."""
    return sum(
        int(query(stack, name, "SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL")[0].n)
        for name in SERVICES
    )


def consumed_and_expected(stack: Stack) -> dict[tuple[str, str], tuple[int, int]]:
    """Per (service, topic) it consumes: the messages it recorded in its inbox, and those
    it should have.

    Every message of a type a consumer handles leaves one inbox row per message id
    (handled or dead-lettered; other types pass by without one); what it should have
    read is what its topic's producers sent of those types through their outboxes.
    Upstream checkout has no outbox, so for its topic the consumers are held to the
    one that read the most.
    """
    sent: dict[tuple[str, str], int] = {}
    read: dict[tuple[str, str], int] = {}
    for name in SERVICES:
        for r in query(
            stack,
            name,
            "SELECT topic, message_type, COUNT(*) AS n FROM outbox WHERE sent_at IS NOT NULL"
            " GROUP BY topic, message_type",
        ):
            sent[(r.topic, r.message_type)] = sent.get((r.topic, r.message_type), 0) + int(r.n)
        for r in query(stack, name, "SELECT topic, COUNT(*) AS n FROM inbox GROUP BY topic"):
            read[(name, r.topic)] = int(r.n)
    consumed = subscriptions()
    most_read = {
        topic: max(read.get((service, t), 0) for service, t in consumed if t == topic)
        for _, topic in consumed
    }
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for (service, topic), handled in consumed.items():
        expected = (
            most_read[topic]
            if topic == topics.CHECKOUT_ORDERS
            else sum(sent.get((topic, message_type), 0) for message_type in handled)
        )
        out[(service, topic)] = (read.get((service, topic), 0), expected)
    return out


def wait_quiet(stack: Stack, timeout: float = 120.0) -> None:
    """Wait until every outbox is sent and every consumer has read all it was sent.

    A saga is terminal in the order database before the services downstream of
    its last event (notification, analytics) have seen it; the invariants hold
    once the suite is quiet. (Broker end offsets are not used: Tansu reports the
    end of a partition as its last batch's first offset + 1.)
    """
    deadline = time.monotonic() + timeout
    behind: dict[tuple[str, str], tuple[int, int]] = {}
    while time.monotonic() < deadline:
        behind = {k: c for k, c in consumed_and_expected(stack).items() if c[0] < c[1]}
        if unsent(stack) == 0 and not behind:
            return
        time.sleep(0.5)
    raise TimeoutError(
        f"the suite did not quieten within {timeout}s: {unsent(stack)} unsent,"
        f" behind (read, sent): {behind}"
    )


def assert_invariants(
    stack: Stack, *, since: datetime, baseline: dict[str, int] | None = None
) -> Report:
    """Once the suite is quiet, check every invariant for the orders placed since ``since``."""
    wait_quiet(stack)
    report = check(databases(stack), baseline=baseline, since=since)
    assert report.ok, report.summary()
    return report


@functools.cache
def subscriptions() -> Mapping[tuple[str, str], frozenset[str]]:
    """Every (service, topic) the suite consumes, and the message types handled there.

    Read once from the services' wiring (building all six): ``wait_quiet`` asks for it
    every half second, and it cannot change while the process runs.
    """
    found: dict[tuple[str, str], frozenset[str]] = {}
    for spec in SERVICES.values():
        service = importlib.import_module(f"{spec.package}.bootstrap").build()
        for topic in service.consumed_topics:
            found[(service.settings.service_name, topic)] = frozenset(
                service.subscriber(topic).routes
            )
    return MappingProxyType(found)


def duplicates_seen(stack: Stack) -> dict[tuple[str, str], float]:
    """Per (service, topic), redelivered messages the inbox skipped, from each /metrics."""
    seen: dict[tuple[str, str], float] = {}
    for name, proc in stack.processes.items():
        text_ = stack.metrics(proc.url)
        for line in text_.splitlines():
            if line.startswith("orderly_duplicate_messages_total{"):
                labels, value = line.rsplit(" ", 1)
                topic = labels.split('topic="', 1)[1].split('"', 1)[0]
                seen[(name, topic)] = seen.get((name, topic), 0.0) + float(value)
    return seen
