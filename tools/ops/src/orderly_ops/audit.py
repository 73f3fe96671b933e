"""``orderly-ops audit verify``: walk each service's audit log and find where its chain breaks.

Each service's log is read in id order, in one REPEATABLE READ READ ONLY transaction
(one snapshot: rows appended meanwhile are simply not there yet) through a server-side
cursor, and checked by ``orderly_kit.audit.verify_chain``: the first row changed (its
fields no longer give its hash), removed (a row names a previous hash no row before it
has) or inserted (the row after it links past it).

The chain alone cannot show that the newest rows were removed, nor a rewrite whose
author recomputed every hash after it (the hash has no key; see ``orderly_kit.audit``).
So every run prints each service's head, its newest row's id and hash, for operators to
keep somewhere the database's users cannot write (a ticket, the log store); given back
as ``--anchor order=1234:<hash>``, the row must still be there with that hash. Each
service also logs its head when it moves, which puts anchors in its log store.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, MetaData, create_engine, select, text

from orderly_kit.audit import AuditRow, ChainCheck, add_audit_table, verify_chain

_TABLE = add_audit_table(MetaData())


@dataclass(frozen=True)
class Anchor:
    """A head noted before: service, row id, and the hash that row had."""

    service: str
    row_id: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """``SERVICE=ID:HASH``; ValueError saying the form otherwise."""
        service, _, rest = text.partition("=")
        row_id, _, digest = rest.partition(":")
        if not service or not row_id.isdigit() or len(digest) != 64:
            raise ValueError(f"--anchor {text!r}: expected SERVICE=ID:HASH (a 64-hex hash)")
        return cls(service, int(row_id), digest.lower())


def _rows(conn: Connection) -> Iterator[AuditRow]:
    result = conn.execution_options(yield_per=1000).execute(select(_TABLE).order_by(_TABLE.c.id))
    for row in result.mappings():
        yield AuditRow.of(row)


def verify(url: str, *, anchor: Anchor | None = None) -> ChainCheck:
    """The chain of the audit log in the database at ``url``."""
    engine = create_engine(url, pool_pre_ping=False)
    try:
        with engine.connect() as conn:
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
            return verify_chain(
                _rows(conn), anchor=(anchor.row_id, anchor.hash) if anchor else None
            )
    finally:
        engine.dispose()


def verify_all(urls: Mapping[str, str], anchors: Mapping[str, Anchor]) -> dict[str, ChainCheck]:
    """Each service's chain, by service."""
    return {service: verify(url, anchor=anchors.get(service)) for service, url in urls.items()}


def summary(service: str, check: ChainCheck) -> str:
    """One line per service: intact or where it broke, and its head to anchor."""
    head = f"head {check.head[0]} {check.head[1]}" if check.head else "empty"
    if check.broken is None:
        return f"{service}: intact, {check.rows} rows, {head}"
    b = check.broken
    return f"{service}: BROKEN at row {b.row_id} ({b.kind}): {b.detail}; {check.rows} rows, {head}"
