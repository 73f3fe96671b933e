"""``orderly-ops audit verify`` against a service's migrated database: an intact chain
passes, and each way someone with the database's keys could tamper with it is named.

The attacker here can do what a superuser can: disable the append-only trigger, change or
delete a row, enable it again; or simply insert (the trigger refuses only UPDATE, DELETE
and TRUNCATE), with a hash computed exactly as the kit computes it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import MetaData, create_engine, insert, text

from orderly_dev.servers import Servers
from orderly_kit import audit
from orderly_kit.audit import Actor
from orderly_kit.db import Database
from orderly_ops.cli import main
from orderly_ops.invariants import Databases

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
#: The audit log as every service's metadata declares it.
AUDIT_LOG = audit.add_audit_table(MetaData())


@pytest.fixture
def order_db(servers: Servers, template: dict[str, str]) -> str:
    """A copy of the migrated order database (the audit log is the kit's, in every one)."""
    admin = create_engine(servers.postgres.url("postgres"), isolation_level="AUTOCOMMIT")
    copy = f"t_audit_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{template["order"]}"'))
    admin.dispose()
    return servers.postgres.url(copy)


def an_entry(n: int) -> audit.AuditEntry:
    return audit.entry(
        at=AT + timedelta(minutes=n),
        actor=Actor("alice", "support"),
        action="order.cancel",
        target=f"order:{uuid.UUID(int=n)}",
        request_id=f"req-{n}",
        before={"status": "paid"},
        after={"status": "cancelling", "reason": "asked by phone"},
    )


async def append(url: str, *numbers: int) -> None:
    """Each entry appended by the kit, in a transaction of its own."""
    db = Database(url, pool_size=1)
    try:
        for n in numbers:
            async with db.transaction() as session:
                await audit.append(session, AUDIT_LOG, [an_entry(n)])
    finally:
        await db.dispose()


def tamper(url: str, *statements: str) -> None:
    """As a superuser would: with the append-only trigger off for the moment."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        for statement in statements:
            conn.execute(text(statement))
        conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
    engine.dispose()


def head_hash(url: str, row_id: int) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(text("SELECT hash FROM audit_log WHERE id = :i"), {"i": row_id})
        digest = str(found.scalar_one())
    engine.dispose()
    return digest


def verify(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--order-db", url, "audit", "verify", "--service", "order", *args])
    out, err = capsys.readouterr()
    return code, out + err


async def test_an_intact_chain_verifies_and_prints_its_head(
    order_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await append(order_db, 1, 2, 3, 4, 5)

    code, out = verify(capsys, order_db)

    assert code == 0
    assert out.strip() == f"order: intact, 5 rows, head 5 {head_hash(order_db, 5)}"


async def test_an_empty_log_is_intact(order_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify(capsys, order_db) == (0, "order: intact, 0 rows, empty\n")


async def test_a_row_updated_behind_the_trigger_is_found(
    order_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await append(order_db, 1, 2, 3, 4, 5)
    tamper(order_db, "UPDATE audit_log SET actor = 'mallory' WHERE id = 3")

    code, out = verify(capsys, order_db)

    assert code == 1
    assert out.startswith("order: BROKEN at row 3 (changed): row 3 no longer gives its hash")


async def test_a_row_deleted_in_the_middle_is_found(
    order_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await append(order_db, 1, 2, 3, 4, 5)
    tamper(order_db, "DELETE FROM audit_log WHERE id = 3")

    code, out = verify(capsys, order_db)

    assert code == 1
    assert out.startswith("order: BROKEN at row 4 (removed): row 4 (after row 2) names a previous")


@pytest.mark.parametrize("as_superuser", [False, True])
async def test_a_forged_row_inserted_between_two_is_found(
    order_db: str, capsys: pytest.CaptureFixture[str], as_superuser: bool
) -> None:
    await append(order_db, 1, 2)
    engine = create_engine(order_db)
    with engine.begin() as conn:  # an append that rolled back: id 3 is never used
        conn.execute(text("SELECT nextval(pg_get_serial_sequence('audit_log', 'id'))"))
    await append(order_db, 4)
    forged = an_entry(3)
    if as_superuser:
        # Linked to row 2 as an honest row would be, which the unique prev_hash refuses
        # until the constraint is dropped; the hash computed exactly as the kit does.
        prev = head_hash(order_db, 2)
        tamper(order_db, "ALTER TABLE audit_log DROP CONSTRAINT uq_audit_log_prev_hash")
    else:
        prev = "f" * 64  # an insert needs no trigger disabled, but the honest link is taken
    with engine.begin() as conn:
        conn.execute(
            insert(AUDIT_LOG).values(
                id=3,
                at=forged.at,
                actor=forged.actor,
                roles=forged.roles,
                action=forged.action,
                target=forged.target,
                request_id=forged.request_id,
                before=forged.before,
                after=forged.after,
                prev_hash=prev,
                hash=audit.chain_hash(prev, 3, forged),
            )
        )
    engine.dispose()

    code, out = verify(capsys, order_db)

    assert code == 1
    assert out.startswith("order: BROKEN at row 3 (inserted): row 3 was slipped in: row 4 follows")


async def test_the_newest_rows_removed_are_found_against_an_anchored_head(
    order_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await append(order_db, 1, 2, 3)
    anchor = f"order=3:{head_hash(order_db, 3)}"
    await append(order_db, 4)
    tamper(order_db, "DELETE FROM audit_log WHERE id >= 3")

    alone = verify(capsys, order_db)
    anchored = verify(capsys, order_db, "--anchor", anchor)

    assert alone[0] == 0  # what a chain cannot tell by itself
    assert anchored[0] == 1
    assert "BROKEN at row 3 (removed): the log ends at row 2, but row 3 was anchored" in anchored[1]


async def test_a_malformed_anchor_or_a_missing_database_is_bad_input(
    order_db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert verify(capsys, order_db, "--anchor", "order=3")[0] == 2
    assert verify(capsys, order_db, "--anchor", f"payment=1:{'0' * 64}")[0] == 2
    monkeypatch.delenv("PAYMENT_DATABASE_URL", raising=False)
    capsys.readouterr()
    assert main(["audit", "verify", "--service", "payment"]) == 2
    assert "set PAYMENT_DATABASE_URL" in capsys.readouterr().err


async def test_every_service_s_log_is_verified_by_default(
    dbs: Databases, capsys: pytest.CaptureFixture[str]
) -> None:
    await append(dbs.payment, 1)
    args = [f"--{service}-db={url}" for service, url in dbs.all().items()]

    code = main([*args, "audit", "verify"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line.split(":")[0] for line in lines] == [
        "order",
        "inventory",
        "payment",
        "notification",
        "analytics",
        "support",
    ]
    assert lines[2].startswith("payment: intact, 1 rows, head 1 ")
