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

    @classmethod
    def of(cls, record: ConsumerRecord[bytes, bytes], *, received_at: float) -> Seen:
        """A record as seen: its CloudEvents type, headers and JSON body (an unreadable
        body as ``{"_raw": text}``), when it was published and when it was received."""
        headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
        try:
            body = json.loads(record.value) if record.value else {}
        except ValueError:
            body = {"_raw": (record.value or b"").decode(errors="replace")}
        return cls(
            headers.get("ce_type", "?"),
            received_at,
            record.timestamp / 1000,
            body,
            headers,
            record.partition,
            record.offset,
        )


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
                    seen = Seen.of(r, received_at=now)
                    if "order_id" not in seen.body:
                        continue  # a stock event (low stock, a transfer): no order to follow
                    self.events[UUID(seen.body["order_id"])].append(seen)
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
    records = await read_records(bootstrap, [topic], idle_ms=idle_ms)
    return [Seen.of(r, received_at=time.time()) for r in records]
