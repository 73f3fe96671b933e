"""The command line every service shares: serve, migrate, asyncapi, dead-letters, webhooks,
and customers (for a service that keeps personal data)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn

from orderly_kit import customers as customer_keys
from orderly_kit import deadletters, migrations
from orderly_kit.audit import Actor
from orderly_kit.deadletters import DeadLetter, Status
from orderly_kit.http_server import server_options
from orderly_kit.messaging import UnitOfWork
from orderly_kit.service import Service
from orderly_schemas.topics import ALL_TOPICS

Command = Callable[[Service, list[str]], Coroutine[Any, Any, int]]


def main(
    build: Callable[[], Service],
    *,
    commands: dict[str, Command] | None = None,
    argv: list[str] | None = None,
) -> int:
    """Run ``serve`` (default), ``migrate``, ``asyncapi`` or another command."""
    extra: dict[str, Command] = {
        "dead-letters": dead_letters,
        "webhooks": webhooks,
        "customers": customers,
        **(commands or {}),
    }
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", "asyncapi", *extra]
    )
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    service = build()
    if ns.command == "serve":
        s = service.settings
        uvicorn.run(
            service.http,
            host=s.http_host,
            port=s.http_port,
            **server_options(s),
            log_config=None,
            access_log=False,
            lifespan="on",
            loop="auto",  # uvloop (a dependency) where it installs; asyncio elsewhere
            timeout_graceful_shutdown=10,
        )
        return 0
    if ns.command == "migrate":
        migrations.upgrade(service.migrations_dir, service.settings.database_url)
        return 0
    if ns.command == "asyncapi":
        json.dump(
            service.asyncapi().to_specification().to_jsonable(),
            sys.stdout,
            indent=2,
            sort_keys=True,
        )
        sys.stdout.write("\n")
        return 0
    if service.settings.migrate_on_start:
        migrations.upgrade(service.migrations_dir, service.settings.database_url)
    return asyncio.run(extra[ns.command](service, ns.args))


# -- customers ------------------------------------------------------------------------------
#: A batch of a command's work in one unit of work: how many it did (0: all done).
Batch = Callable[[UnitOfWork], Awaitable[int]]


def _customers_parser(service: Service, *, seals: bool) -> argparse.ArgumentParser:
    name = service.settings.service_name
    parser = argparse.ArgumentParser(
        prog=f"{name} customers",
        description=f"The keys the {name} service keeps customers' personal data under.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    rotate = sub.add_parser("rotate-keys", help="re-wrap every data key with the active key")
    rotate.add_argument("--operator", default=None, help="who (default: $USER)")
    if seals:
        sub.add_parser("seal-legacy", help="seal what older rows keep in plaintext")
    return parser


async def customers(service: Service, args: list[str], *, seal_legacy: Batch | None = None) -> int:
    """``customers rotate-keys``: re-wrap every customer's data key with the active
    key-encryption key, in audited batches; with ``seal_legacy`` (a service whose older
    rows keep personal data in plaintext), ``customers seal-legacy`` seals them in batches
    (the order service adds erase)."""
    ns = _customers_parser(service, seals=seal_legacy is not None).parse_args(args)
    if service.messaging.vault is None:
        return _fail(f"the {service.settings.service_name} service keeps no personal data")
    if ns.action == "seal-legacy":
        assert seal_legacy is not None
        batch = seal_legacy
    else:
        operator = Actor.operator(ns.operator or operator_name())

        async def batch(uow: UnitOfWork) -> int:
            return await customer_keys.rotate_keys(uow, operator=operator)

    total = 0
    try:
        while True:
            async with service.messaging.unit_of_work() as uow:
                done = await batch(uow)
            total += done
            if done == 0:
                break
    finally:
        await service.database.dispose()
    print(f"{ns.action}: {total} done")
    return 0


# -- webhooks -------------------------------------------------------------------------------
def _webhooks_parser(service: Service) -> argparse.ArgumentParser:
    name = service.settings.service_name
    parser = argparse.ArgumentParser(
        prog=f"{name} webhooks",
        description=f"The signed webhooks the {name} service's simulators send, and those"
        " given up after their last attempt.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("given-up", help="how many deliveries each sender has given up on")
    rt = sub.add_parser("retry", help="send the given-up deliveries again (attempts from 0)")
    rt.add_argument("--sender", help="only this sender's (default: every sender's)")
    return parser


async def webhooks(service: Service, args: list[str]) -> int:
    """``webhooks given-up|retry``: see and retry the deliveries this service gave up on."""
    ns = _webhooks_parser(service).parse_args(args)
    senders = service.webhook_senders
    if getattr(ns, "sender", None):
        senders = [s for s in senders if s.name == ns.sender]
        if not senders:
            known = ", ".join(s.name for s in service.webhook_senders) or "none"
            return _fail(f"no webhook sender {ns.sender!r} here (senders: {known})")
    try:
        for sender in senders:
            if ns.action == "given-up":
                print(f"{sender.name}: {await sender.count_given_up()} given up")
            else:
                print(f"{sender.name}: {await sender.retry_given_up()} sent again")
    finally:
        await service.database.dispose()
    return 0


# -- dead-letters ---------------------------------------------------------------------------
def _dead_letters_parser(service: Service) -> argparse.ArgumentParser:
    name = service.settings.service_name
    parser = argparse.ArgumentParser(
        prog=f"{name} dead-letters",
        description=f"The messages the {name} service gave up on (its <topic>.dlq letters).",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    topic_help = "only this consumed topic (or its .dlq topic)"
    ls = sub.add_parser("list", help="dead letters, oldest first, and whether they still wait")
    ls.add_argument("--topic", help=topic_help)
    ls.add_argument("--limit", type=int, default=100, help="the newest N (default 100)")
    ls.add_argument("--waiting", action="store_true", help="only those not yet replayed")
    ls.add_argument("--json", action="store_true", help="JSON lines, one per letter")
    show = sub.add_parser("show", help="one dead letter in full: headers, body, error")
    show.add_argument("message_id")
    show.add_argument("--topic", help=topic_help)
    rp = sub.add_parser("replay", help="publish the original message again to its topic")
    rp.add_argument("message_ids", nargs="*", metavar="message-id")
    rp.add_argument("--all", action="store_true", help="every dead letter still waiting")
    rp.add_argument("--topic", help=topic_help)
    rp.add_argument(
        "--force",
        action="store_true",
        help="also letters no longer waiting, and letters older than the inbox retention",
    )
    rp.add_argument("--operator", default=operator_name(), help="who replays (default: $USER)")
    dc = sub.add_parser("discard", help="give up on waiting letters that no fix can save")
    dc.add_argument("message_ids", nargs="+", metavar="message-id")
    dc.add_argument("--reason", required=True, help="recorded with the inbox row and logged")
    dc.add_argument("--topic", help=topic_help)
    dc.add_argument("--operator", default=operator_name(), help="who discards (default: $USER)")
    return parser


def operator_name() -> str:
    """Who runs a command, as the audit log names them unless they say (``--operator``)."""
    name = os.environ.get("USER") or os.environ.get("LOGNAME")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container's uid without a passwd entry
        return "unknown"


async def dead_letters(service: Service, args: list[str]) -> int:
    """``dead-letters list|show|replay|discard``: inspect and repair this service's letters."""
    ns = _dead_letters_parser(service).parse_args(args)
    try:
        letters = await _letters(service, ns.topic)
        if ns.action == "list":
            return _list(letters, limit=ns.limit, waiting_only=ns.waiting, as_json=ns.json)
        if ns.action == "show":
            return _show(letters, ns.message_id)
        if ns.action == "replay":
            return await _replay(service, letters, ns)
        return await _discard(service, letters, ns)
    finally:
        await service.database.dispose()


async def _letters(service: Service, topic: str | None) -> list[DeadLetter]:
    consumer = service.messaging.service
    topics = [topic] if topic else (service.consumed_topics or list(ALL_TOPICS))
    s = service.settings
    found = await deadletters.read(
        s.kafka_bootstrap_servers, topics, consumer=consumer, security=s.kafka_security()
    )
    letters = await deadletters.with_status(service.database, service.inbox, consumer, found)
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(letters, key=lambda d: (d.failed_at or epoch, d.position))


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _list(letters: list[DeadLetter], *, limit: int, waiting_only: bool, as_json: bool) -> int:
    shown = [d for d in letters if d.status is Status.WAITING or not waiting_only]
    shown = shown[-limit:] if limit > 0 else shown
    if as_json:
        for d in shown:
            print(json.dumps(d.to_dict()))
        return 0
    print(f"{'STATUS':9} {'FAILED AT':25} {'MESSAGE ID':36} {'TYPE':26} FROM  ATTEMPTS  ERROR")
    for d in shown:
        failed_at = d.failed_at.isoformat(timespec="seconds") if d.failed_at else "?"
        origin = f"{d.original_topic}:{d.original_partition}:{d.original_offset}"
        error = (d.error or "").replace("\n", " ")
        error = error if len(error) <= 100 else error[:99] + "…"
        print(
            f"{d.status.value:9} {failed_at:25} {d.message_id:36} {d.type or '?':26}"
            f" {origin}  {d.attempts}  {error}"
        )
    waiting = sum(1 for d in letters if d.status is Status.WAITING)
    print(f"-- {len(shown)} shown of {len(letters)} dead letter(s); {waiting} waiting")
    return 0


def _show(letters: list[DeadLetter], message_id: str) -> int:
    matches = [d for d in letters if d.message_id == message_id]
    if not matches:
        return _fail(f"no dead letter of this service has message id {message_id!r}")
    for d in matches:
        print(f"message id:   {d.message_id}")
        print(f"status:       {d.status.value}")
        print(f"type:         {d.type}")
        print(f"dead letter:  {d.position}")
        print(f"original:     {d.original_topic}:{d.original_partition}:{d.original_offset}")
        print(f"key:          {d.key.decode(errors='replace') if d.key is not None else None}")
        print(f"consumer:     {d.consumer}")
        print(f"attempts:     {d.attempts}")
        print(f"failed at:    {d.failed_at.isoformat() if d.failed_at else None}")
        print(f"error type:   {d.error_type}")
        print(f"error:        {d.error}")
        print("headers:")
        for name, value in sorted(d.headers.items()):
            print(f"  {name}: {value}")
        print("body:")
        print(deadletters.pretty_body(d.value))
        print()
    return 0


def _chosen(
    letters: list[DeadLetter], ns: argparse.Namespace, max_age: timedelta
) -> tuple[list[DeadLetter], int]:
    """The letters to replay, after printing those skipped; and an exit code (0 or 1)."""
    latest = deadletters.latest_by_id(letters)
    if ns.all == bool(ns.message_ids):
        return [], _fail("name the message ids to replay, or give --all (not both)")
    unknown = [m for m in ns.message_ids if m not in latest]
    if unknown:
        return [], _fail(f"no dead letter of this service has message id {', '.join(unknown)}")
    candidates = list(latest.values()) if ns.all else [latest[m] for m in ns.message_ids]
    chosen, refused = [], []
    for d in candidates:
        if d.status is not Status.WAITING and not ns.force:
            if not ns.all:
                print(f"skipped {d.message_id}: {d.status.value}, nothing to replay")
            continue
        reason = deadletters.refusal(d, max_age=max_age, now=datetime.now(UTC), force=ns.force)
        if reason:
            refused.append(reason)
        else:
            chosen.append(d)
    for reason in refused:
        _fail(reason)
    if refused and not ns.all:
        return [], _fail("nothing replayed")
    return chosen, 1 if refused else 0


async def _replay(service: Service, letters: list[DeadLetter], ns: argparse.Namespace) -> int:
    max_age = timedelta(seconds=service.settings.inbox_retention_seconds)
    chosen, code = _chosen(letters, ns, max_age)
    if not chosen:
        if code == 0 and ns.all:
            print("nothing to replay")
        return code
    async for done in deadletters.replay(
        service.settings.kafka_bootstrap_servers,
        chosen,
        messaging=service.messaging,
        operator=ns.operator,
        client_id=f"{service.settings.service_name}-dead-letters",
        security=service.settings.kafka_security(),
    ):
        print(done.audit_line())
    return code


async def _discard(service: Service, letters: list[DeadLetter], ns: argparse.Namespace) -> int:
    known = {d.message_id for d in letters}
    unknown = [m for m in ns.message_ids if m not in known]
    if unknown:
        return _fail(f"no dead letter of this service has message id {', '.join(unknown)}")
    discarded = await deadletters.discard(
        service.messaging, ns.message_ids, operator=ns.operator, reason=ns.reason
    )
    for message_id in ns.message_ids:
        if message_id in discarded:
            print(f"discarded {message_id} by {ns.operator}: {ns.reason}")
        else:
            print(f"skipped {message_id}: not waiting")
    return 0
