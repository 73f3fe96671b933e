"""The webhook sender on real PostgreSQL, POSTing to a real HTTP receiver.

Each test owes deliveries (rows of a table shaped as a sender's), runs the sender's
scans with a given clock, and looks at what the receiver got and what the rows say.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orderly_dev.servers import serve_http
from orderly_kit import cli, webhook_signature
from orderly_kit.clock import Clock, ManualClock, utc_now
from orderly_kit.db import Database, new_metadata
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.service import build_service
from orderly_kit.settings import ServiceSettings
from orderly_kit.webhook_sender import LEASE, RETRY_BACKOFF, WebhookSender

metadata = new_metadata()
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("delivery_id", String(64), nullable=False, unique=True),
    Column("payload", JSONB, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("given_up_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
)
outbox, inbox = add_messaging_tables(metadata)
SECRET = "whsec_test"
NOW = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)


class Receiver:
    """A webhook endpoint that checks the signature, answers ``status`` and remembers ids."""

    def __init__(self) -> None:
        self.url = ""  # set once served
        self.status = 200
        self.received: list[str] = []
        #: While set, the next request waits for it (a receiver slow to answer once).
        self.hold: asyncio.Event | None = None
        self.arrived = asyncio.Event()

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        webhook_signature.verify(
            request.headers.get(webhook_signature.HEADER),
            body,
            secrets=[SECRET],
            now=datetime.now(UTC),
            tolerance=timedelta(minutes=5),
        )
        self.arrived.set()
        hold, self.hold = self.hold, None
        if hold is not None:
            await hold.wait()
        self.received.append(json.loads(body)["id"])
        return Response(status_code=self.status, content=f"answered {self.status}")


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/hooks", receiver.endpoint, methods=["POST"])])
    async with serve_http(app) as base_url:
        receiver.url = f"{base_url}/hooks"
        yield receiver


def sender_of(
    database: Database, *, max_attempts: int = 20, clock: Clock = utc_now
) -> WebhookSender:
    return WebhookSender(
        database,
        name=f"test-{uuid.uuid4().hex[:8]}",  # its own series of the gauge
        table=deliveries,
        due="next_attempt_at",
        body=lambda row: json.dumps(row["payload"]).encode(),
        describe=lambda row: f"delivery {row['delivery_id']}",
        max_attempts=max_attempts,
        clock=clock,
    )


async def owe(database: Database, *ids: str, due: datetime = NOW) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(
            insert(deliveries),
            [{"delivery_id": i, "payload": {"id": i}, "next_attempt_at": due} for i in ids],
        )


async def rows(database: Database) -> dict[str, dict[str, Any]]:
    async with database.engine.connect() as conn:
        result = await conn.execute(select(deliveries).order_by(deliveries.c.id))
        return {r["delivery_id"]: dict(r) for r in result.mappings()}


async def scan(
    sender: WebhookSender, to: Receiver, *, at: datetime | None = None, batch: int = 50
) -> int:
    """One scan of ``sender`` at ``at`` (by default, when its clock says), POSTing to ``to``."""
    async with httpx.AsyncClient() as client:
        return await sender.send_due(client, url=to.url, secret=SECRET, now=at, batch=batch)


def given_up_gauge(sender: WebhookSender) -> float | None:
    return REGISTRY.get_sample_value("orderly_webhook_deliveries_given_up", {"sender": sender.name})


async def test_a_due_delivery_is_sent_signed_and_marked_sent(
    database: Database, hooks: Receiver
) -> None:
    await owe(database, "evt_due")
    await owe(database, "evt_later", due=NOW + timedelta(minutes=1))
    sender = sender_of(database, clock=ManualClock(NOW))

    taken = await scan(sender, hooks)  # at NOW, by the sender's clock

    owed = await rows(database)
    assert (taken, hooks.received) == (1, ["evt_due"])
    assert owed["evt_due"]["sent_at"] == NOW
    assert (owed["evt_due"]["attempts"], owed["evt_due"]["last_error"]) == (1, None)
    assert (owed["evt_later"]["sent_at"], owed["evt_later"]["attempts"]) == (None, 0)


async def test_a_delivery_not_accepted_is_retried_after_the_backoff(
    database: Database, hooks: Receiver
) -> None:
    await owe(database, "evt_retried")
    sender = sender_of(database)

    hooks.status = 503
    refused = await scan(sender, hooks, at=NOW)
    after_refusal = (await rows(database))["evt_retried"]
    too_soon = await scan(sender, hooks, at=NOW + RETRY_BACKOFF / 2)
    hooks.status = 200
    accepted = await scan(sender, hooks, at=NOW + RETRY_BACKOFF)

    assert (refused, too_soon, accepted) == (1, 0, 1)
    assert after_refusal["next_attempt_at"] == NOW + RETRY_BACKOFF
    assert after_refusal["last_error"] == "503: answered 503"
    sent = (await rows(database))["evt_retried"]
    assert (sent["sent_at"] is not None, sent["attempts"], sent["last_error"]) == (True, 2, None)
    assert hooks.received == ["evt_retried", "evt_retried"]


async def test_a_delivery_being_sent_is_not_taken_by_a_second_scan_until_its_lease_ends(
    database: Database, hooks: Receiver
) -> None:
    await owe(database, "evt_leased")
    sender = sender_of(database)
    slow = hooks.hold = asyncio.Event()

    first = asyncio.create_task(scan(sender, hooks, at=NOW))
    await asyncio.wait_for(hooks.arrived.wait(), 10)  # the first scan is mid-send
    second = await scan(sender, hooks, at=NOW)
    # As if the first sender had died: the next scan after the lease takes the row again.
    after_the_lease = await scan(sender, hooks, at=NOW + LEASE)
    slow.set()
    taken_by_first = await first

    assert (taken_by_first, second, after_the_lease) == (1, 0, 1)
    assert hooks.received == ["evt_leased", "evt_leased"]
    assert (await rows(database))["evt_leased"]["attempts"] == 2


async def test_concurrent_scans_send_each_delivery_once(
    database: Database, hooks: Receiver
) -> None:
    owed = [f"evt_{n}" for n in range(6)]
    await owe(database, *owed)
    sender = sender_of(database)

    taken = await asyncio.gather(*(scan(sender, hooks, at=NOW, batch=2) for _ in range(4)))

    assert (sum(taken), sorted(hooks.received)) == (6, owed)
    assert [r["attempts"] for r in (await rows(database)).values()] == [1] * 6


async def test_a_delivery_that_keeps_failing_is_given_up_visibly_and_no_longer_sent(
    database: Database, hooks: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    await owe(database, "evt_doomed")
    sender = sender_of(database, max_attempts=3)
    hooks.status = 500

    with caplog.at_level(logging.WARNING, logger="orderly_kit.webhook_sender"):
        taken = [await scan(sender, hooks, at=NOW + n * timedelta(hours=1)) for n in range(5)]
    counted = await sender.count_given_up()

    assert taken == [1, 1, 1, 0, 0]
    doomed = (await rows(database))["evt_doomed"]
    assert (doomed["sent_at"], doomed["attempts"]) == (None, 3)
    assert doomed["given_up_at"] == NOW + timedelta(hours=2)
    assert doomed["last_error"] == "500: answered 500"
    assert (counted, given_up_gauge(sender)) == (1, 1.0)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"{sender.name} gives up on delivery evt_doomed after 3 attempts: 500: answered 500"
    ]


async def test_a_given_up_delivery_retried_by_an_operator_is_sent_again(
    database: Database, hooks: Receiver
) -> None:
    await owe(database, "evt_revived")
    sender = sender_of(database, max_attempts=1)
    hooks.status = 500
    await scan(sender, hooks, at=NOW)
    hooks.status = 200

    retried = await sender.retry_given_up(now=NOW + timedelta(hours=1))
    taken = await scan(sender, hooks, at=NOW + timedelta(hours=1))

    assert (retried, taken, given_up_gauge(sender)) == (1, 1, 0.0)
    revived = (await rows(database))["evt_revived"]
    assert (revived["sent_at"] is not None, revived["given_up_at"], revived["attempts"]) == (
        True,
        None,
        1,
    )


async def test_an_operator_sees_and_retries_given_up_deliveries_with_the_webhooks_command(
    database: Database, hooks: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    service = build_service(
        ServiceSettings(service_name="hooks-test", database_url=database.url, log_json=False),
        title="test",
        version="0",
        metadata=metadata,
        outbox=outbox,
        inbox=inbox,
        migrations_dir=Path("."),
    )
    sender = sender_of(service.database, max_attempts=1)
    service.sends_webhooks(sender)
    await owe(database, "evt_stuck")
    hooks.status = 500
    await scan(sender, hooks, at=NOW)
    capsys.readouterr()

    listed = await cli.webhooks(service, ["given-up"])
    shown = capsys.readouterr().out
    unknown = await cli.webhooks(service, ["retry", "--sender", "nobody"])
    refused = capsys.readouterr().err
    retried = await cli.webhooks(service, ["retry"])
    said = capsys.readouterr().out

    assert (listed, shown) == (0, f"{sender.name}: 1 given up\n")
    assert unknown == 1
    assert refused == f"error: no webhook sender 'nobody' here (senders: {sender.name})\n"
    assert (retried, said) == (0, f"{sender.name}: 1 sent again\n")
    stuck = (await rows(database))["evt_stuck"]
    assert (stuck["given_up_at"], stuck["attempts"]) == (None, 0)
    # The gauge is kept up to date by a job of the service's own.
    every = service.settings.dead_letters_gauge_interval_seconds
    assert (f"{sender.name}-webhooks-given-up", every) in [(n, s) for n, s, _ in service.jobs]
