"""Follows the public order lifecycle on ``order.events.v1``, as a subscribing team would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from orderly_schemas import topics

TERMINAL = frozenset({"OrderCompleted", "OrderRejected", "OrderCancelled"})


@dataclass
class Seen:
    type: str
    received_at: float
    published_at: float  # the record's timestamp on the broker (the relay's send time)
    body: dict[str, Any]
    headers: dict[str, str]
    partition: int
    offset: int


@dataclass
class OrderWatcher:
    """Collects every lifecycle event by order id, with the time it was published and the
    time it was received."""

    bootstrap: str
    topic: str = topics.ORDER_EVENTS
    events: dict[UUID, list[Seen]] = field(default_factory=lambda: defaultdict(list))
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer:
            await self._consumer.stop()

    async def __aenter__(self) -> OrderWatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batch.values():
                for r in records:
                    headers = {k: v.decode() for k, v in (r.headers or ())}
                    body = json.loads(r.value)
                    if "order_id" not in body:
                        continue  # a stock event (low stock, a transfer): no order to follow
                    self.events[UUID(body["order_id"])].append(
                        Seen(
                            headers.get("ce_type", "?"),
                            now,
                            r.timestamp / 1000,
                            body,
                            headers,
                            r.partition,
                            r.offset,
                        )
                    )
            if batch:
                self._changed.set()

    def types(self, order_id: UUID) -> list[str]:
        return [e.type for e in self.events.get(order_id, [])]

    def first(self, order_id: UUID, event_type: str) -> Seen | None:
        return next((e for e in self.events.get(order_id, []) if e.type == event_type), None)

    def terminal(self, order_id: UUID) -> str | None:
        return next((t for t in self.types(order_id) if t in TERMINAL), None)

    async def wait_terminal(
        self, order_ids: Iterable[UUID], seconds: float, progress: Any = None
    ) -> dict[UUID, str | None]:
        """Wait until every order reached a terminal event, or the timeout passed."""
        ids = list(order_ids)
        deadline = time.monotonic() + seconds
        while True:
            done = {oid: self.terminal(oid) for oid in ids}
            if progress:
                progress(sum(1 for v in done.values() if v))
            if all(done.values()) or time.monotonic() >= deadline:
                return done
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.5)


async def read_records(
    bootstrap: str, topics: Iterable[str], *, idle_ms: int = 1500
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topics`` from offset 0, read until none comes for ``idle_ms``.

    Each partition is read from offset 0, not from ListOffsets' earliest, which the
    Tansu broker can get wrong for a partition two producers wrote at once (see
    ``orderly_kit.topic_reader``).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
        ]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        while batch := await consumer.getmany(timeout_ms=idle_ms):
            for records in batch.values():
                found += records
        return found
    finally:
        await consumer.stop()


async def read_topic(bootstrap: str, topic: str, *, idle_ms: int = 1500) -> list[Seen]:
    """Every message on ``topic`` from offset 0, read until the topic is drained."""
    seen: list[Seen] = []
    for r in await read_records(bootstrap, [topic], idle_ms=idle_ms):
        now = time.time()
        headers = {k: v.decode(errors="replace") for k, v in (r.headers or ())}
        try:
            body = json.loads(r.value) if r.value else {}
        except ValueError:
            body = {"_raw": r.value.decode(errors="replace")}
        seen.append(
            Seen(
                headers.get("ce_type", "?"),
                now,
                r.timestamp / 1000,
                body,
                headers,
                r.partition,
                r.offset,
            )
        )
    return seen
