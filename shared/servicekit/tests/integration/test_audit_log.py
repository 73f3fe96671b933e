"""The audit log on real PostgreSQL, migrated by the kit's branch: a row commits or rolls
back with the action it records, concurrent actions form one chain, the database refuses
to change or remove a row, and admins (only) read it at ``GET /audit``, page by page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Column, Integer, Table, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from orderly_dev.identity import DevIssuer
from orderly_kit import audit, migrations
from orderly_kit.audit import Actor, AuditRow
from orderly_kit.auth import Role
from orderly_kit.clock import ManualClock
from orderly_kit.db import new_metadata
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.service import Service, build_service
from orderly_kit.settings import ServiceSettings
from orderly_order.bootstrap import MIGRATIONS

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
audit_log = audit.table_in(metadata)
# What the actions change, beside their audit rows: made by the test, not migrated.
counters = Table("counters", metadata, Column("id", Integer, primary_key=True))
ANN = Actor.operator("ann")


@pytest.fixture
async def service(fresh_database: str) -> AsyncIterator[Service]:
    # Any service's migrations hold the kit's branch; only that branch is applied here.
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database, "orderly_kit@head")
    built = build_service(
        ServiceSettings(service_name="audited", database_url=fresh_database, log_json=False),
        title="test",
        version="0",
        metadata=metadata,
        outbox=outbox,
        inbox=inbox,
        migrations_dir=Path("."),
        clock=ManualClock(),
    )
    async with built.database.engine.begin() as conn:
        await conn.run_sync(lambda c: counters.create(c))
    yield built
    await built.database.dispose()


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.http)
    async with httpx.AsyncClient(transport=transport, base_url="http://audited") as c:
        yield c


async def act(service: Service, n: int, *, actions: int = 1, actor: Actor = ANN) -> None:
    """One transaction: a change, and its audit rows."""
    async with service.messaging.unit_of_work() as uow:
        await uow.session.execute(insert(counters).values(id=n))
        for k in range(actions):
            await uow.audit(
                actor=actor,
                action="counter.add",
                target=f"counter:{n}",
                before=None,
                after={"id": n, "part": k},
            )


async def rows(service: Service) -> list[AuditRow]:
    async with service.database.sessions() as session:
        found = await session.execute(select(audit_log).order_by(audit_log.c.id))
        return [AuditRow.of(r) for r in found.mappings()]


async def test_an_audited_action_commits_with_its_row_chained_to_the_one_before(
    service: Service,
) -> None:
    await act(service, 1)
    await act(service, 2, actions=2)

    found = await rows(service)

    assert [(r.id, r.entry.target, r.entry.after) for r in found] == [
        (1, "counter:1", {"id": 1, "part": 0}),
        (2, "counter:2", {"id": 2, "part": 0}),
        (3, "counter:2", {"id": 2, "part": 1}),
    ]
    assert found[0].prev_hash == audit.GENESIS
    assert [r.prev_hash for r in found[1:]] == [r.hash for r in found[:-1]]
    assert all(r.sealed() for r in found)  # as read back: jsonb and timestamptz round-trip
    assert found[0].entry.at == service.messaging.clock()
    assert (found[0].entry.actor, found[0].entry.roles) == ("ann", "operator")


async def test_an_action_rolled_back_leaves_no_audit_row(service: Service) -> None:
    async def audited_then_failed() -> None:
        async with service.messaging.unit_of_work() as uow:
            await uow.audit(actor=ANN, action="counter.add", target="counter:9")
            raise RuntimeError("the action fails after it was audited")

    await act(service, 1)
    with pytest.raises(RuntimeError):
        await audited_then_failed()

    await act(service, 2)

    found = await rows(service)
    assert [r.entry.target for r in found] == ["counter:1", "counter:2"]
    assert audit.verify_chain(found).ok


async def test_concurrent_actions_form_one_chain(service: Service) -> None:
    await asyncio.gather(*(act(service, n, actions=1 + n % 2) for n in range(40)))

    found = await rows(service)

    assert len(found) == 60
    assert audit.verify_chain(found).ok
    assert [r.id for r in found] == list(range(1, 61))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log WHERE id = 1",
        "TRUNCATE audit_log",
    ],
)
async def test_the_database_refuses_to_change_or_remove_a_row(
    service: Service, statement: str
) -> None:
    await act(service, 1)

    with pytest.raises(DBAPIError, match="audit_log is append-only"):
        async with service.database.transaction() as session:
            await session.execute(text(statement))

    assert [r.entry.actor for r in await rows(service)] == ["ann"]


async def test_an_append_from_a_stale_snapshot_is_refused_rather_than_forking_the_chain(
    service: Service,
) -> None:
    await act(service, 1)
    stale_entry = audit.entry(
        at=service.messaging.clock(),
        actor=ANN,
        action="counter.add",
        target="counter:9",
        request_id=None,
        before=None,
        after=None,
    )
    async with service.database.sessions() as stale:
        await stale.connection(
            execution_options={"isolation_level": "REPEATABLE READ"}
        )  # its snapshot is taken by the next statement, before the other append
        await stale.execute(select(1))
        await act(service, 2)
        with pytest.raises(IntegrityError, match="uq_audit_log_prev_hash"):
            await audit.append(stale, audit_log, [stale_entry])
        await stale.rollback()

    assert audit.verify_chain(await rows(service)).ok


async def test_admins_read_the_log_page_by_page_in_id_order(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    for n in range(5):
        await act(service, n)
    admin = identity.headers(Role.ADMIN)

    first = await client.get("/audit", params={"limit": 2}, headers=admin)
    second = await client.get("/audit", params={"limit": 2, "after": 2}, headers=admin)
    last = await client.get("/audit", params={"limit": 2, "after": 4}, headers=admin)

    assert first.status_code == 200
    assert [e["id"] for e in first.json()["items"]] == [1, 2]
    assert first.json()["next"] == 2
    assert [e["id"] for e in second.json()["items"]] == [3, 4]
    assert [e["id"] for e in last.json()["items"]] == [5]
    assert last.json()["next"] is None
    entry = first.json()["items"][0]
    assert entry["actor"] == "ann"
    assert entry["roles"] == "operator"
    assert entry["target"] == "counter:0"
    assert entry["after"] == {"id": 0, "part": 0}
    assert entry["prev_hash"] == audit.GENESIS
    assert entry["hash"] == first.json()["items"][1]["prev_hash"]


async def test_the_log_is_filtered_by_action_actor_target_and_time(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    clock = service.messaging.clock
    assert isinstance(clock, ManualClock)
    start = clock()
    await act(service, 1)
    clock.advance(timedelta(hours=1))
    await act(service, 2, actor=Actor("bob", "admin"))
    await act(service, 3)
    admin = identity.headers(Role.ADMIN)

    async def targets(**params: str) -> list[str]:
        r = await client.get("/audit", params=params, headers=admin)
        assert r.status_code == 200, r.text
        return [e["target"] for e in r.json()["items"]]

    assert await targets(actor="bob") == ["counter:2"]
    assert await targets(target="counter:3") == ["counter:3"]
    assert await targets(action="counter.add") == ["counter:1", "counter:2", "counter:3"]
    assert await targets(action="order.cancel") == []
    later = (start + timedelta(minutes=30)).isoformat()
    assert await targets(since=later) == ["counter:2", "counter:3"]
    assert await targets(until=later) == ["counter:1"]
    assert await targets(since=later, actor="ann") == ["counter:3"]
    refused = await client.get(
        "/audit", params={"since": later, "until": start.isoformat()}, headers=admin
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "until"]


@pytest.mark.parametrize("params", [{"limit": "501"}, {"limit": "0"}, {"after": "-1"}])
async def test_a_page_beyond_the_limits_is_a_422(
    client: httpx.AsyncClient, identity: DevIssuer, params: dict[str, str]
) -> None:
    r = await client.get("/audit", params=params, headers=identity.headers(Role.ADMIN))
    assert r.status_code == 422


async def test_only_admins_read_the_log(client: httpx.AsyncClient, identity: DevIssuer) -> None:
    anonymous = await client.get("/audit")
    others = {
        role: (await client.get("/audit", headers=identity.headers(role))).status_code
        for role in Role
        if role is not Role.ADMIN
    }

    assert anonymous.status_code == 401
    assert set(others.values()) == {403}


async def test_the_log_is_documented_in_the_openapi_of_every_service(service: Service) -> None:
    spec = service.http.openapi()
    get = spec["paths"]["/audit"]["get"]
    schema = get["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/AuditPage"}
    entry = spec["components"]["schemas"]["AuditEntryRead"]["properties"]
    assert {"actor", "roles", "action", "target", "request_id", "before", "after", "hash"} <= set(
        entry
    )
    assert {p["name"] for p in get["parameters"]} == {
        "after",
        "limit",
        "action",
        "actor",
        "target",
        "since",
        "until",
    }
