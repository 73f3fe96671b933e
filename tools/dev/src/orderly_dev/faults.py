"""What the fault tests share: placing load, waiting for sagas to end, reading the databases,
and checking the suite's invariants (orderly_ops) on the stack's own databases."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from sqlalchemy import create_engine, text

from orderly_dev.checkout import Checkout
from orderly_dev.stack import SERVICES, Stack, database_name
from orderly_kit.service import consumer_group
from orderly_ops.invariants import TERMINAL, Databases, Report, check, stock_snapshot
from orderly_schemas.checkout import OrderPlaced


def databases(stack: Stack) -> Databases:
    """The stack's five databases, as the invariant checker wants them."""
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
    """Outbox rows not yet published, over the five services."""
    return sum(
        int(query(stack, name, "SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL")[0].n)
        for name in SERVICES
    )


def wait_quiet(stack: Stack, timeout: float = 120.0) -> None:
    """Wait until every outbox is sent and every consumer group has read everything.

    A saga is terminal in the order database before the services downstream of
    its last event (notification, analytics) have seen it; the invariants hold
    once the suite is quiet.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if unsent(stack) == 0 and asyncio.run(consumer_lag(stack.servers.kafka.bootstrap)) == 0:
            return
        time.sleep(0.5)
    lags = asyncio.run(consumer_lags(stack.servers.kafka.bootstrap))
    behind = {k: v for k, v in lags.items() if v > 0}
    raise TimeoutError(
        f"the suite did not quieten within {timeout}s: {unsent(stack)} unsent, behind: {behind}"
    )


def assert_invariants(
    stack: Stack, *, since: datetime, baseline: dict[str, int] | None = None
) -> Report:
    """Once the suite is quiet, check every invariant for the orders placed since ``since``."""
    wait_quiet(stack)
    report = check(databases(stack), baseline=baseline, since=since)
    assert report.ok, report.summary()
    return report


def consumer_groups() -> dict[str, str]:
    """Every consumer group of the suite and its topic, as the services name them."""
    groups: dict[str, str] = {}
    for spec in SERVICES.values():
        service = importlib.import_module(f"{spec.package}.bootstrap").build()
        for topic in service.consumed_topics:
            groups[consumer_group(service.settings.service_name, topic)] = topic
    return groups


async def consumer_lags(bootstrap: str) -> dict[str, int]:
    """Per consumer group and partition (``group[p]``), messages it has yet to read."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await probe.start()
    try:
        await probe.topics()  # fresh metadata: topics may have been created since
        lags: dict[str, int] = {}
        for group, topic in consumer_groups().items():
            parts = [TopicPartition(topic, p) for p in probe.partitions_for_topic(topic) or ()]
            ends = await probe.end_offsets(parts)
            committed = await admin.list_consumer_group_offsets(group, partitions=parts)
            for tp in parts:
                done = committed.get(tp)
                read = done.offset if done is not None and done.offset >= 0 else 0
                lags[f"{group}[{tp.partition}]"] = ends[tp] - read
        return lags
    finally:
        await probe.stop()
        await admin.close()


async def consumer_lag(bootstrap: str) -> int:
    """Messages the suite's consumer groups have yet to read, over every partition."""
    return sum(max(lag, 0) for lag in (await consumer_lags(bootstrap)).values())
