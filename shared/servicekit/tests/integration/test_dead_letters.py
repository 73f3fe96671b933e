"""An operator's dead letters, on real PostgreSQL and a real broker, through the service CLI.

A handler breaks; its message is dead-lettered after its attempts; the operator
lists it (reason, attempts), shows it, fixes the handler and replays it: it takes
effect exactly once and the waiting gauge drops to 0. Replaying again changes
nothing. A message no fix can save is refused by ``replay`` and discarded instead.
Every replay and discard is in the service's audit log, under the operator's name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, String, Table, func, insert, select

from orderly_dev.checkout import headers_for, make_order
from orderly_dev.eventually import eventually
from orderly_dev.servers import Servers
from orderly_dev.watch import read_records, read_topic
from orderly_kit import audit, cli, deadletters
from orderly_kit.db import Database, new_metadata
from orderly_kit.messaging import UnitOfWork
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.service import Service, build_service
from orderly_kit.settings import ServiceSettings
from orderly_kit.topics_admin import ensure_topics
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.topics import dead_letter_topic

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
audit_log = audit.table_in(metadata)
effects = Table(
    "dl_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(64), nullable=False),
)


@dataclass
class World:
    """A throwaway service on its own topic and database, and a handler we can break."""

    servers: Servers
    database_url: str
    topic: str
    name: str = field(default_factory=lambda: f"dl{uuid.uuid4().hex[:6]}")
    broken: bool = True

    def build(self) -> Service:
        """What ``python -m orderly_<svc>`` builds: the same for the server and the CLI."""
        service = build_service(
            ServiceSettings(
                service_name=self.name,
                database_url=self.database_url,
                kafka_bootstrap_servers=self.servers.kafka.bootstrap,
                consumer_max_attempts=2,
                consumer_retry_backoff_ms=10,
                dead_letters_gauge_interval_seconds=0.2,
                log_json=False,
            ),
            title="test",
            version="0",
            metadata=metadata,
            outbox=outbox,
            inbox=inbox,
            migrations_dir=Path("."),
        )

        @service.subscriber(self.topic).on(OrderPlaced)
        async def on_order_placed(event: OrderPlaced, uow: UnitOfWork) -> None:
            await uow.session.execute(insert(effects).values(order_id=str(event.order_id)))
            if self.broken:
                raise RuntimeError("tax service rejects region 'east'")

        return service

    async def run(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        """``python -m orderly_<svc> dead-letters ARGS``: exit code, stdout, stderr."""
        capsys.readouterr()
        handlers = logging.getLogger().handlers[:]
        try:
            code = await asyncio.to_thread(cli.main, self.build, argv=["dead-letters", *args])
        finally:
            # build() logs to the captured stderr of this call; keep the test's own logging.
            logging.getLogger().handlers[:] = handlers
        out, err = capsys.readouterr()
        return code, out, err


@pytest.fixture
async def world(servers: Servers, fresh_database: str) -> World:
    topic = f"test.{uuid.uuid4().hex[:10]}"
    await ensure_topics(
        servers.kafka.bootstrap, partitions=3, topics=[topic, dead_letter_topic(topic)]
    )
    db = Database(fresh_database, pool_size=2)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await db.dispose()
    return World(servers, fresh_database, topic)


@pytest.fixture
async def running(world: World) -> AsyncIterator[Service]:
    service = world.build()
    await service.start()
    yield service
    await service.stop()


async def send(world: World, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=world.servers.kafka.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(world.topic, value, key=b"order-key", headers=headers)
    finally:
        await producer.stop()


async def scalar(service: Service, query: Any) -> Any:
    async with service.database.transaction() as session:
        return await session.scalar(query)


async def audited(service: Service) -> list[audit.AuditRow]:
    async with service.database.sessions() as session:
        rows = await session.execute(select(audit_log).order_by(audit_log.c.id))
        return [audit.AuditRow.of(r) for r in rows.mappings()]


def waiting_gauge(world: World) -> float | None:
    return REGISTRY.get_sample_value(
        "orderly_dead_letters_waiting", {"service": world.name, "topic": world.topic}
    )


async def letters_listed(
    world: World, capsys: pytest.CaptureFixture[str]
) -> list[dict[str, object]]:
    code, out, _ = await world.run(capsys, "list", "--json")
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


async def test_a_fixed_handler_takes_a_replayed_dead_letter_once(
    world: World, running: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    assert {"housekeeping", "dead-letters-waiting", "outbox-unsent"} <= {
        name for name, _, _ in running.jobs
    }
    order = make_order(random.Random(11))
    headers = headers_for(order)
    message_id = dict(headers)["ce_id"].decode()
    await send(world, order.model_dump_json().encode(), headers)

    async def dead_letter_published() -> bool:
        return (
            len(
                await read_topic(
                    world.servers.kafka.bootstrap, dead_letter_topic(world.topic), idle_ms=300
                )
            )
            == 1
        )

    await eventually(dead_letter_published, within=30, what="the dead letter")
    await eventually(lambda: waiting_gauge(world) == 1.0, within=30, what="1 letter waiting")

    # list: the reason and the attempts
    [listed] = await letters_listed(world, capsys)
    assert listed["message_id"] == message_id
    assert listed["status"] == "waiting"
    assert listed["type"] == "OrderPlaced"
    assert listed["attempts"] == 2
    assert listed["original_topic"] == world.topic
    assert listed["dlq_topic"] == dead_letter_topic(world.topic)
    assert listed["key"] == "order-key"
    assert "tax service rejects region 'east'" in str(listed["error"])
    code, table, _ = await world.run(capsys, "list")
    assert code == 0
    assert "waiting" in table
    assert message_id in table
    assert "1 waiting" in table

    # show: every header, the body as JSON, the error
    code, shown, _ = await world.run(capsys, "show", message_id)
    assert code == 0
    assert f"ce_id: {message_id}" in shown
    assert "dlq_attempts: 2" in shown
    assert "error:        RuntimeError: tax service rejects region 'east'" in shown
    assert f'  "order_id": "{order.order_id}"' in shown

    # the fix, then the replay
    world.broken = False
    code, out, _ = await world.run(capsys, "replay", message_id, "--operator", "alice")
    assert code == 0
    assert f"replayed {message_id} (OrderPlaced) from {dead_letter_topic(world.topic)}:" in out
    assert "by alice at " in out
    [replay] = await audited(running)
    assert (replay.entry.action, replay.entry.target) == (
        "dead_letter.replay",
        f"dead_letter:{message_id}",
    )
    assert (replay.entry.actor, replay.entry.roles) == ("alice", "operator")
    assert replay.entry.before is not None
    assert replay.entry.before["status"] == "waiting"
    assert replay.entry.after is not None
    assert str(replay.entry.after["replayed_to"]).startswith(f"{world.topic}:")

    async def processed() -> bool:
        outcome = await scalar(
            running, select(inbox.c.outcome).where(inbox.c.message_id == message_id)
        )
        return bool(outcome == "processed")

    await eventually(processed, within=30, what="the replayed message processed")
    assert await effects_of(running, order.order_id) == 1
    await eventually(lambda: waiting_gauge(world) == 0.0, within=30, what="no letter waiting")
    [listed] = await letters_listed(world, capsys)
    assert listed["status"] == "replayed"

    # the replayed message: the original headers and where it came from, no dlq_* headers
    on_topic = await read_topic(world.servers.kafka.bootstrap, world.topic, idle_ms=300)
    replayed = next(m for m in on_topic if "orderly_replayed_from" in m.headers)
    assert replayed.headers["ce_id"] == message_id
    assert replayed.headers["orderly_replayed_from"].startswith(dead_letter_topic(world.topic))
    assert not [h for h in replayed.headers if h.startswith("dlq_")]

    # replaying again changes nothing: skipped, and forced through the inbox it is a duplicate
    code, out, _ = await world.run(capsys, "replay", message_id)
    assert (code, out.strip()) == (0, f"skipped {message_id}: replayed, nothing to replay")
    duplicates = {"service": world.name, "topic": world.topic}
    before = REGISTRY.get_sample_value("orderly_duplicate_messages_total", duplicates) or 0.0
    code, _, _ = await world.run(capsys, "replay", message_id, "--force")
    assert code == 0
    await eventually(
        lambda: (
            REGISTRY.get_sample_value("orderly_duplicate_messages_total", duplicates) == before + 1
        ),
        within=30,
        what="the forced replay counted as a duplicate",
    )
    assert await effects_of(running, order.order_id) == 1
    # the skipped replay did nothing, the forced one is audited like the first
    assert [r.entry.action for r in await audited(running)] == ["dead_letter.replay"] * 2
    assert audit.verify_chain(await audited(running)).ok


async def test_replay_of_an_unknown_message_fails_clearly(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await world.run(capsys, "replay", "no-such-id")

    assert code == 1
    assert out == ""
    assert "no dead letter of this service has message id no-such-id" in err


async def test_a_letter_without_envelope_is_refused_by_replay_and_discarded(
    world: World, running: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    await send(world, b'{"not": "an event"}', [("ce_type", b"OrderPlaced")])
    await eventually(lambda: waiting_gauge(world) == 1.0, within=30, what="1 letter waiting")
    [listed] = await letters_listed(world, capsys)
    message_id = str(listed["message_id"])
    assert message_id.startswith(f"kafka:{world.topic}:")
    assert "ce_id" in str(listed["error"])

    code, out, err = await world.run(capsys, "replay", "--all")
    assert code == 1
    assert "has no valid CloudEvents headers" in err
    assert "replayed" not in out

    code, out, _ = await world.run(
        capsys, "discard", message_id, "--reason", "junk from a test producer", "--operator", "bob"
    )
    assert code == 0
    assert out.strip() == f"discarded {message_id} by bob: junk from a test producer"
    [discard] = await audited(running)
    assert (discard.entry.action, discard.entry.actor) == ("dead_letter.discard", "bob")
    assert discard.entry.after == {"status": "discarded", "reason": "junk from a test producer"}
    await eventually(lambda: waiting_gauge(world) == 0.0, within=30, what="no letter waiting")
    [listed] = await letters_listed(world, capsys)
    assert listed["status"] == "discarded"
    code, out, _ = await world.run(capsys, "list", "--waiting", "--json")
    assert (code, out) == (0, "")


async def effects_of(service: Service, order_id: uuid.UUID) -> int:
    count = await scalar(
        service,
        select(func.count()).select_from(effects).where(effects.c.order_id == str(order_id)),
    )
    return int(count)


async def test_every_letter_is_read_when_consumers_dead_letter_into_one_partition_at_once(
    servers: Servers,
) -> None:
    """Two consumers of a topic that dead-letter the same message write the same ``.dlq``
    partition at the same moment. The Tansu broker (memory storage) then sometimes
    answers ListOffsets for that partition from the order its writes finished in, not
    from their offsets (first offset 1, end 1 for two records), while its fetches return
    both. The reader must find every letter that a plain read from offset 0 finds."""
    bootstrap = servers.kafka.bootstrap
    sources = [f"test.{uuid.uuid4().hex[:10]}" for _ in range(150)]
    dlqs = [dead_letter_topic(t) for t in sources]
    await ensure_topics(bootstrap, partitions=1, topics=sources + dlqs)
    producers = [AIOKafkaProducer(bootstrap_servers=bootstrap) for _ in range(2)]
    for producer in producers:
        await producer.start()
    try:
        for dlq in dlqs:
            await asyncio.gather(
                *(
                    producer.send_and_wait(dlq, b"{}", headers=[("dlq_consumer", b"keeper")])
                    for producer in producers
                )
            )
    finally:
        for producer in producers:
            await producer.stop()

    letters = await deadletters.read(bootstrap, sources, consumer="keeper")

    everything = {(r.topic, r.offset) for r in await read_records(bootstrap, dlqs)}
    assert len(everything) >= len(dlqs) * 2 * 0.9  # the broker kept (nearly) every letter
    assert {(d.dlq_topic, d.offset) for d in letters} == everything
