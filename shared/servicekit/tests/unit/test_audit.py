"""The audit log's chain, without a database: what a row's hash covers, and how a walk of
the rows finds one changed, removed or slipped in, or the newest ones gone."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

import pytest

from orderly_dev.unit_of_work import FakeUnitOfWork
from orderly_kit.audit import (
    GENESIS,
    Actor,
    AuditEntry,
    AuditRow,
    chain_hash,
    entry,
    verify_chain,
)
from orderly_kit.context import current_request_id

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE = Actor("alice", "support")


class Status(StrEnum):
    PAID = "paid"


def an_entry(n: int) -> AuditEntry:
    return entry(
        at=AT + timedelta(minutes=n),
        actor=ALICE,
        action="order.cancel",
        target=f"order:{n}",
        request_id=f"req-{n}",
        before={"status": "paid"},
        after={"status": "cancelling", "reason": f"asked by phone ({n})"},
    )


def chain(count: int, *, first_id: int = 1) -> list[AuditRow]:
    """``count`` rows chained as ``append`` chains them."""
    rows, prev = [], GENESIS
    for n in range(first_id, first_id + count):
        e = an_entry(n)
        digest = chain_hash(prev, n, e)
        rows.append(AuditRow(id=n, entry=e, prev_hash=prev, hash=digest))
        prev = digest
    return rows


def test_an_intact_chain_verifies_and_names_its_head() -> None:
    rows = chain(5)

    checked = verify_chain(rows)

    assert checked.ok
    assert (checked.rows, checked.head) == (5, (5, rows[-1].hash))


def test_an_empty_log_is_intact() -> None:
    checked = verify_chain([])
    assert checked.ok
    assert (checked.rows, checked.head) == (0, None)


@pytest.mark.parametrize(
    "change",
    [
        {"actor": "mallory"},
        {"roles": "admin"},
        {"action": "order.confirm_receipt"},
        {"target": "order:99"},
        {"request_id": None},
        {"before": None},
        {"after": {"status": "cancelling", "reason": "asked by email"}},
        {"at": AT - timedelta(days=1)},
    ],
)
def test_a_change_to_any_field_is_found_at_its_row(change: dict[str, Any]) -> None:
    rows = chain(5)
    rows[2] = dataclasses.replace(rows[2], entry=dataclasses.replace(rows[2].entry, **change))

    broken = verify_chain(rows).broken

    assert broken is not None
    assert (broken.row_id, broken.kind) == (3, "changed")


def test_a_row_removed_in_the_middle_is_found_at_the_row_after_it() -> None:
    rows = chain(5)
    del rows[2]

    broken = verify_chain(rows).broken

    assert broken is not None
    assert (broken.row_id, broken.kind) == (4, "removed")
    assert "row 4 (after row 2)" in broken.detail


def test_the_first_rows_removed_are_found() -> None:
    broken = verify_chain(chain(5)[2:]).broken
    assert broken is not None
    assert (broken.row_id, broken.kind) == (3, "removed")


def test_a_row_slipped_in_with_a_correct_link_and_hash_is_found() -> None:
    # Ids with room between them (a rolled-back append leaves a gap too).
    rows = chain_again([dataclasses.replace(r, id=r.id * 10) for r in chain(4)])
    forged_entry = an_entry(7)
    forged = AuditRow(
        id=25,
        entry=forged_entry,
        prev_hash=rows[1].hash,
        hash=chain_hash(rows[1].hash, 25, forged_entry),
    )

    broken = verify_chain([*rows[:2], forged, *rows[2:]]).broken

    assert broken is not None
    assert (broken.row_id, broken.kind) == (25, "inserted")
    assert "row 30 follows row 20 directly" in broken.detail


def chain_again(rows: list[AuditRow]) -> list[AuditRow]:
    """The rows re-chained under their (new) ids."""
    out, prev = [], GENESIS
    for r in rows:
        digest = chain_hash(prev, r.id, r.entry)
        out.append(dataclasses.replace(r, prev_hash=prev, hash=digest))
        prev = digest
    return out


def test_a_row_changed_and_rehashed_breaks_the_link_of_the_next_row() -> None:
    rows = chain(5)
    changed = dataclasses.replace(rows[2].entry, actor="mallory")
    rows[2] = dataclasses.replace(
        rows[2], entry=changed, hash=chain_hash(rows[2].prev_hash, 3, changed)
    )

    broken = verify_chain(rows).broken

    assert broken is not None
    assert (broken.row_id, broken.kind) == (4, "removed")
    assert "or row 3 was changed and its hash recomputed" in broken.detail


def test_the_newest_rows_removed_are_found_only_against_an_anchor() -> None:
    rows = chain(5)
    anchor = (5, rows[-1].hash)

    assert verify_chain(rows[:3]).ok  # the chain alone cannot tell
    broken = verify_chain(rows[:3], anchor=anchor).broken

    assert broken is not None
    assert (broken.row_id, broken.kind) == (5, "removed")
    assert "ends at row 3" in broken.detail
    assert verify_chain(rows, anchor=anchor).ok
    assert verify_chain([*rows, *chain_after(rows, 2)], anchor=anchor).ok


def chain_after(rows: list[AuditRow], count: int) -> list[AuditRow]:
    out, prev = [], rows[-1].hash
    for n in range(rows[-1].id + 1, rows[-1].id + 1 + count):
        e = an_entry(n)
        digest = chain_hash(prev, n, e)
        out.append(AuditRow(id=n, entry=e, prev_hash=prev, hash=digest))
        prev = digest
    return out


def test_a_chain_rewritten_up_to_an_anchor_is_found_against_it() -> None:
    rows = chain(5)
    anchor = (4, rows[3].hash)
    rows[1] = dataclasses.replace(rows[1], entry=dataclasses.replace(rows[1].entry, actor="x"))

    broken = verify_chain(chain_again(rows), anchor=anchor).broken

    assert broken is not None
    assert (broken.row_id, broken.kind) == (4, "changed")


def test_an_entry_holds_what_jsonb_gives_back() -> None:
    e = entry(
        at=AT,
        actor=ALICE,
        action="payment.refund",
        target="order:1",
        request_id=None,
        before=None,
        after={
            "status": Status.PAID,
            "order_id": UUID(int=1),
            "at": AT,
            "lines": (1, 2),
            "note": None,
        },
    )

    assert e.after == {
        "status": "paid",
        "order_id": "00000000-0000-0000-0000-000000000001",
        "at": "2026-03-01T12:00:00.000000+00:00",
        "lines": [1, 2],
        "note": None,
    }
    assert type(e.after["status"]) is str


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"action": "cancel"}, "must read <noun>.<verb>"),
        ({"target": "42"}, "must read <type>:<id>"),
        ({"after": {"amount": 12.5}}, r"audit after\.amount: float"),
        ({"after": {"at": datetime(2026, 1, 1)}}, "timezone-aware"),
        ({"at": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_a_malformed_entry_is_refused_saying_why(kwargs: dict[str, object], error: str) -> None:
    fields: dict[str, object] = {
        "at": AT,
        "actor": ALICE,
        "action": "order.cancel",
        "target": "order:1",
        "request_id": None,
        "before": None,
        "after": None,
        **kwargs,
    }
    with pytest.raises((ValueError, TypeError), match=error):
        entry(**fields)  # type: ignore[arg-type]


async def test_a_unit_of_work_audits_at_its_clock_with_the_request_id() -> None:
    uow: FakeUnitOfWork[None] = FakeUnitOfWork(None)
    token = current_request_id.set("req-7")
    try:
        recorded = await uow.audit(
            actor=Actor.operator("ann"), action="saga.retry", target="order:1"
        )
    finally:
        current_request_id.reset(token)

    assert uow.audited == [recorded]
    assert (recorded.at, recorded.request_id) == (uow.now(), "req-7")
    assert (recorded.actor, recorded.roles) == ("ann", "operator")
