"""Whether the commands a saga waits on, or their answers, are still queued.

A deadline is about an unanswered command, not a long queue. For each order whose
wait ran out, the commands it sent (its outbox rows on a commands topic) are looked
up: a command still in the outbox, or at or past the committed offset of the
consumer group that handles it, has not been read yet; a command read, but whose
partition of the reply topic this service has not read to the end, may have its
answer waiting for us. Either way the saga waits again instead of re-sending.
Replies are keyed by the same order id and the suite's topics share one partition
count, so a command's partition is also its answer's.

If the broker cannot be asked, every order counts as queued: re-sending into a
broker that cannot be reached helps nobody, and nothing is compensated for it.

Reading another service's committed offsets needs Describe on its consumer group: the
order service declares the groups of the services in ``COMMANDS``
(``Service.reads_offsets_of``), and its Kafka user's ACLs allow exactly those.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.kafka_security import PLAINTEXT, KafkaSecurity
from orderly_kit.service import consumer_group
from orderly_order.adapters.orm import outbox
from orderly_schemas import topics

log = logging.getLogger(__name__)

#: A consumer group and one partition it reads.
Position = tuple[str, TopicPartition]

#: Each commands topic the saga sends on: the service that handles it, and the topic
#: its answers come back on.
COMMANDS: Mapping[str, tuple[str, str]] = {
    topics.INVENTORY_COMMANDS: ("inventory", topics.INVENTORY_EVENTS),
    topics.PAYMENT_COMMANDS: ("payment", topics.PAYMENT_EVENTS),
}


class CommandsInFlight(Protocol):
    """What the deadline scan asks of the command queue (the in-memory one of the unit
    tests answers too)."""

    async def still_waiting(self, session: AsyncSession, orders: Collection[UUID]) -> set[UUID]:
        """The orders among ``orders`` with a command, or its answer, still in a queue."""
        ...


@dataclass
class CommandQueue:
    """Asks the outbox and the broker whether orders' commands are still waiting."""

    bootstrap: str
    service: str = "order"
    security: KafkaSecurity = PLAINTEXT
    _admin: AIOKafkaAdminClient | None = field(default=None, init=False)
    _ends: AIOKafkaConsumer | None = field(default=None, init=False)

    async def still_waiting(self, session: AsyncSession, orders: Collection[UUID]) -> set[UUID]:
        """The orders among ``orders`` with a command, or its answer, still in a queue."""
        if not orders:
            return set()
        by_key = {str(order_id): order_id for order_id in orders}
        rows = (
            await session.execute(
                select(
                    outbox.c.message_key,
                    outbox.c.topic,
                    outbox.c.kafka_partition,
                    outbox.c.kafka_offset,
                ).where(outbox.c.message_key.in_(by_key), outbox.c.topic.in_(COMMANDS))
            )
        ).all()
        waiting = {by_key[r.message_key] for r in rows if r.kafka_offset is None}
        sent = [r for r in rows if r.kafka_offset is not None]
        if not sent:
            return waiting
        # Per command: (its handler's group, its partition), (our group, its answer's).
        checks: list[tuple[Any, Position, Position]] = []
        for r in sent:
            handler, reply_topic = COMMANDS[r.topic]
            checks.append(
                (
                    r,
                    (consumer_group(handler), TopicPartition(r.topic, r.kafka_partition)),
                    (
                        consumer_group(self.service),
                        TopicPartition(reply_topic, r.kafka_partition),
                    ),
                )
            )
        asked: dict[str, set[TopicPartition]] = {}
        for _, *positions in checks:
            for group, tp in positions:
                asked.setdefault(group, set()).add(tp)
        try:
            admin = await self._admin_client()
            # Partitions named: Tansu cannot answer a request for all of a group's offsets.
            read = {
                group: await admin.list_consumer_group_offsets(group, partitions=sorted(tps))
                for group, tps in asked.items()
            }
            ends = await self._end_offsets({tp for _, _, (_, tp) in checks})
        except Exception as exc:
            log.warning("could not ask the broker whether commands are queued: %s", exc)
            return set(orders)

        def next_read(group: str, tp: TopicPartition) -> int:
            found = read[group].get(tp)
            return found.offset if found is not None else -1

        for r, command, (reader, answer) in checks:
            if next_read(*command) <= r.kafka_offset or max(
                next_read(reader, answer), 0
            ) < ends.get(answer, 0):
                waiting.add(by_key[r.message_key])
        return waiting

    async def _end_offsets(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        if self._ends is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=None,
                enable_auto_commit=False,
                client_id=f"{self.service}-command-queue",
                **self.security.client_options(),
            )
            await _started(consumer.start, consumer.stop)
            self._ends = consumer
        ends: dict[TopicPartition, int] = await self._ends.end_offsets(list(partitions))
        return ends

    async def _admin_client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id=f"{self.service}-command-queue",
                **self.security.client_options(),
            )
            await _started(admin.start, admin.close)
            self._admin = admin
        return self._admin

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()
        if self._ends is not None:
            await self._ends.stop()


async def _started(
    start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
) -> None:
    """Start a client; one that fails to start is stopped, so that the next round retries."""
    try:
        await start()
    except BaseException:
        with contextlib.suppress(Exception):
            await stop()
        raise
