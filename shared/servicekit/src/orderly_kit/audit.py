"""The audit log: who did which privileged thing to what, and when, kept in the same
transaction as the thing itself.

Every service has the table ``audit_log`` (``add_audit_table``, which
``add_messaging_tables`` adds to each service's metadata; the kit's migrations make it).
A use case records an action through its unit of work::

    await uow.audit(
        actor=Actor.of(caller),            # or Actor.operator(name) at the command line
        action="order.cancel",             # <noun>.<verb>
        target=f"order:{order_id}",        # <type>:<id> of what it acted on
        before={"status": "paid"},
        after={"status": "cancelling", "reason": reason},
    )

and the row commits, or rolls back, with the action; the request id comes from the
request being served (``context.current_request_id``), the time from ``uow.now()``.

**The chain.** Each row holds the hash of the row before it (``prev_hash``; the first
row holds ``GENESIS``) and its own ``hash``: SHA-256 over that previous hash and the
canonical JSON of the row's fields (``chain_hash``). A row changed afterwards no longer
gives its hash; a row removed leaves its successor pointing at a hash no row has; a row
slipped in between is skipped by its successor's ``prev_hash`` (``verify_chain``, run by
``orderly-ops audit verify``). At the database the table is append-only besides: a
trigger refuses UPDATE, DELETE and TRUNCATE, so changing it takes someone able to
disable a trigger (the table's owner, a superuser), and then the chain shows it. An
INSERT is allowed, but ``prev_hash`` is unique, so a row slipped in between cannot name
the hash its neighbour already names without the constraint dropped first; either way
the chain shows it.

**Appends are serialised**, since each row needs the hash of the one before: ``append``
takes a transaction-scoped advisory lock on one fixed key, reads the newest row and
inserts. A unit of work calls it as the LAST step of its transaction, just before the
commit, for two reasons: the lock is held only for those few statements and the commit
(actions of different orders run concurrently up to there), and a transaction waiting
for it already holds every other lock it will take, so the wait can close no cycle: no
deadlock. Units of work run at READ COMMITTED, so the newest row read after the lock is
the one the previous holder committed. A transaction with an older snapshot (REPEATABLE
READ) would read a stale head; the unique ``prev_hash`` then refuses its row rather than
let the chain fork.

**What the chain cannot show by itself.** The hash has no key: anyone who can write to
the table can also compute hashes.

- Removing the newest rows leaves a shorter chain that is intact.
- Rewriting a row and recomputing the hash of every row after it leaves a chain that is
  intact; so does a forged row appended at the head with a correct hash.
- It proves a row unchanged since it was written, not that what it says is true.

Hence anchors: ``orderly-ops audit verify`` prints each service's head (id and hash) for
operators to keep elsewhere (a ticket, a log store) and checks an anchor given back
with ``--anchor``; every service also logs its head when it has moved
(``<P>AUDIT_HEAD_LOG_INTERVAL_SECONDS``), so its log store holds anchors too. A head
found again later, with the same hash, proves that nothing up to it was rewritten or
removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from orderly_kit.auth import Caller
    from orderly_kit.db import Database

log = logging.getLogger(__name__)

AUDIT_LOG: Final = "audit_log"
#: The ``prev_hash`` of the first row.
GENESIS: Final = "0" * 64
#: The roles an operator at a service's command line is recorded with: they hold no token;
#: their access is the shell and the database credentials of the service.
OPERATOR: Final = "operator"
#: Longest ``X-Request-ID`` kept (``request_id_http`` refuses longer ones).
MAX_REQUEST_ID: Final = 128

_ACTION = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
_TARGET = re.compile(r"^[a-z][a-z_]*:\S.*$", re.DOTALL)
# One fixed key for every append of a database (the advisory lock of ``append``).
_APPEND_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('orderly_kit.audit_log', 0))")


def add_audit_table(metadata: MetaData) -> Table:
    """Add ``audit_log`` to a service's metadata (``add_messaging_tables`` does)."""
    return Table(
        AUDIT_LOG,
        metadata,
        # By default, not always: ``append`` takes each id from the sequence first, since
        # the id is part of what the row's hash covers.
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("actor", Text, nullable=False),
        Column("roles", Text, nullable=False),
        Column("action", String(100), nullable=False),
        Column("target", Text, nullable=False),
        Column("request_id", String(MAX_REQUEST_ID), nullable=True),
        Column("before", JSONB, nullable=True),
        Column("after", JSONB, nullable=True),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
        # Two rows after one: a fork of the chain, refused (see the module's docstring).
        UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
        # What was done to one order (or letter, or SKU): the usual question.
        Index("ix_audit_log_target", "target", "id"),
    )


def table_in(metadata: MetaData) -> Table:
    """The audit log of a service's metadata (added with its outbox and inbox)."""
    try:
        return metadata.tables[AUDIT_LOG]
    except KeyError:
        raise LookupError(
            f"this metadata has no {AUDIT_LOG} table: build its outbox and inbox with"
            " orderly_kit.messaging_tables.add_messaging_tables"
        ) from None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, as the audit log names them: a token's subject and roles, or an operator."""

    name: str
    #: Comma-separated and sorted, as ``Principal.role_names``; ``OPERATOR`` at the CLI.
    roles: str

    @classmethod
    def of(cls, caller: Caller) -> Actor:
        """The caller a route's permission let through."""
        return cls(caller.actor, caller.principal.role_names)

    @classmethod
    def operator(cls, name: str) -> Actor:
        """An operator at a service's command line, by the name they act under."""
        return cls(name, OPERATOR)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One action as recorded, before ``append`` gives it its id and chains it."""

    at: datetime
    actor: str
    roles: str
    action: str
    target: str
    request_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def entry(
    *,
    at: datetime,
    actor: Actor,
    action: str,
    target: str,
    request_id: str | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> AuditEntry:
    """An entry, checked and with ``before``/``after`` as the database will give them back.

    Raises ValueError (a programming error: the action, target or time is malformed) or
    TypeError (a value JSON cannot hold exactly; see ``_plain``).
    """
    if at.tzinfo is None:
        raise ValueError(f"an audit entry's time must be timezone-aware: {at!r}")
    if not _ACTION.match(action):
        raise ValueError(f"audit action {action!r} must read <noun>.<verb>, e.g. order.cancel")
    if not _TARGET.match(target):
        raise ValueError(f"audit target {target!r} must read <type>:<id>, e.g. order:<uuid>")
    if not actor.name:
        raise ValueError("an audit entry needs an actor")
    return AuditEntry(
        at=at,
        actor=actor.name,
        roles=actor.roles,
        action=action,
        target=target,
        request_id=request_id,
        before=_object(before, "before"),
        after=_object(after, "after"),
    )


def _object(value: Mapping[str, Any] | None, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    plain = _plain(value, name)
    assert isinstance(plain, dict)
    return plain


def _plain(value: Any, where: str) -> Any:
    """``value`` as JSON's own types, so that what is hashed is what jsonb gives back.

    UUIDs, enums, dates and times (aware, as UTC ISO 8601) become text. A float is
    refused: jsonb keeps numbers as numerics, and 1e+20 would come back as
    100000000000000000000, no longer the text that was hashed (amounts are int minor
    units anyway).
    """
    if isinstance(value, Enum):  # before str: a StrEnum is one
        return _plain(value.value, where)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError(f"audit {where}: a time must be timezone-aware, got {value!r}")
        return _instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"audit {where}: object keys must be text")
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"audit {where}: {type(value).__name__} is not kept exactly as JSON (use int, str,"
        " bool, None, lists and objects of them)"
    )


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_json(value: Any) -> str:
    """One text for one value: keys sorted, no spaces, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, row_id: int, e: AuditEntry) -> str:
    """The hash of row ``row_id`` holding ``e``, chained to ``prev_hash``."""
    fields = {
        "id": row_id,
        "at": _instant(e.at),
        "actor": e.actor,
        "roles": e.roles,
        "action": e.action,
        "target": e.target,
        "request_id": e.request_id,
        "before": e.before,
        "after": e.after,
    }
    return hashlib.sha256(f"{prev_hash}\n{canonical_json(fields)}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditRow:
    """A row of the audit log as stored."""

    id: int
    entry: AuditEntry
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> AuditRow:
        """From a row of ``audit_log`` (a mapping of its columns)."""
        return cls(
            id=row["id"],
            entry=AuditEntry(
                at=row["at"],
                actor=row["actor"],
                roles=row["roles"],
                action=row["action"],
                target=row["target"],
                request_id=row["request_id"],
                before=row["before"],
                after=row["after"],
            ),
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )

    def sealed(self) -> bool:
        """Whether the row's fields still give its hash."""
        return chain_hash(self.prev_hash, self.id, self.entry) == self.hash


async def append(session: AsyncSession, table: Table, entries: Sequence[AuditEntry]) -> list[int]:
    """Chain ``entries`` onto the log in ``session``'s transaction; their ids.

    Call it as the last statement before the commit (the unit of work does): it takes the
    log's lock, held until the transaction ends (see the module's docstring).
    """
    if not entries:
        return []
    await session.execute(_APPEND_LOCK)
    # After the lock, in a statement of its own: its snapshot sees the last holder's row.
    found = (
        await session.execute(
            text(
                f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) AS id,"
                f" (SELECT hash FROM {table.name} ORDER BY id DESC LIMIT 1) AS head"
                " FROM generate_series(1, :n)"
            ),
            {"n": len(entries)},
        )
    ).all()
    prev = found[0].head or GENESIS
    rows = []
    for row_id, e in zip(sorted(r.id for r in found), entries, strict=True):
        digest = chain_hash(prev, row_id, e)
        rows.append(
            {
                "id": row_id,
                "at": e.at,
                "actor": e.actor,
                "roles": e.roles,
                "action": e.action,
                "target": e.target,
                "request_id": e.request_id,
                "before": e.before,
                "after": e.after,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    await session.execute(insert(table), rows)
    return [row["id"] for row in rows]


async def head(session: AsyncSession, table: Table) -> tuple[int, str] | None:
    """The newest row's id and hash; None while the log is empty."""
    row = (
        await session.execute(select(table.c.id, table.c.hash).order_by(table.c.id.desc()).limit(1))
    ).first()
    return (row.id, row.hash) if row else None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which rows to read; every field given must match (``until`` is exclusive)."""

    action: str | None = None
    actor: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def select(self, table: Table) -> Select[Any]:
        query = select(table).order_by(table.c.id)
        c = table.c
        if self.action is not None:
            query = query.where(c.action == self.action)
        if self.actor is not None:
            query = query.where(c.actor == self.actor)
        if self.target is not None:
            query = query.where(c.target == self.target)
        if self.since is not None:
            query = query.where(c.at >= self.since)
        if self.until is not None:
            query = query.where(c.at < self.until)
        return query


async def page(
    session: AsyncSession, table: Table, where: AuditFilter, *, after: int | None, limit: int
) -> tuple[list[AuditRow], int | None]:
    """Up to ``limit`` rows in id order after id ``after``; the last id if more follow."""
    query = where.select(table).limit(limit + 1)
    if after is not None:
        query = query.where(table.c.id > after)
    rows = [AuditRow.of(r) for r in (await session.execute(query)).mappings()]
    more = len(rows) > limit
    return rows[:limit], rows[limit - 1].id if more else None


BreakKind = Literal["changed", "removed", "inserted"]


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place the chain does not hold: which row, and what that means."""

    row_id: int
    kind: BreakKind
    detail: str


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What ``verify_chain`` found: rows read, the head (id, hash), the first break."""

    rows: int
    head: tuple[int, str] | None
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_chain(rows: Iterable[AuditRow], *, anchor: tuple[int, str] | None = None) -> ChainCheck:
    """Walk ``rows`` (the whole log, in id order) and find the first break.

    A row is ``inserted`` when the row after it links to the row before it; ``removed``
    names the row whose ``prev_hash`` is no hash before it (rows are missing before it,
    or the row before it was changed and re-hashed); ``changed`` a row whose fields no
    longer give its hash. With ``anchor`` (an id and the hash it had when it was the
    head), that row must still be there with that hash: this finds the newest rows
    removed, or the chain rewritten, up to the anchor. Reads the rows once, keeping three.
    """
    count = 0
    last: AuditRow | None = None
    anchored: str | None = None
    broken: ChainBreak | None = None
    for prev, row, following in _windows(rows):
        count += 1
        last = row
        if anchor is not None and row.id == anchor[0]:
            anchored = row.hash
        if broken is None:
            broken = _break_at(prev, row, following)
    head = (last.id, last.hash) if last else None
    if broken is None and anchor is not None:
        broken = _anchor_break(anchor, anchored, head)
    return ChainCheck(rows=count, head=head, broken=broken)


def _windows(
    rows: Iterable[AuditRow],
) -> Iterator[tuple[AuditRow | None, AuditRow, AuditRow | None]]:
    """Each row with the one before and the one after it."""
    prev: AuditRow | None = None
    row: AuditRow | None = None
    for following in rows:
        if row is not None:
            yield prev, row, following
            prev = row
        row = following
    if row is not None:
        yield prev, row, None


def _break_at(
    prev: AuditRow | None, row: AuditRow, following: AuditRow | None
) -> ChainBreak | None:
    expected = prev.hash if prev else GENESIS
    skipped = following is not None and following.prev_hash == expected
    if skipped and row.hash != expected:
        assert following is not None
        before = f"row {prev.id}" if prev else "the start of the log"
        return ChainBreak(
            row.id,
            "inserted",
            f"row {row.id} was slipped in: row {following.id} follows {before} directly",
        )
    if not row.sealed():
        return ChainBreak(
            row.id, "changed", f"row {row.id} no longer gives its hash: it was changed (or forged)"
        )
    if row.prev_hash != expected:
        after = f"after row {prev.id}" if prev else "the first row"
        return ChainBreak(
            row.id,
            "removed",
            f"row {row.id} ({after}) names a previous hash that no row before it has: rows"
            " were removed before it"
            + (f", or row {prev.id} was changed and its hash recomputed" if prev else ""),
        )
    return None


def _anchor_break(
    anchor: tuple[int, str], found: str | None, head: tuple[int, str] | None
) -> ChainBreak | None:
    anchor_id, anchor_hash = anchor
    if found == anchor_hash:
        return None
    if found is not None:
        return ChainBreak(
            anchor_id,
            "changed",
            f"row {anchor_id} no longer has the anchored hash: the chain up to it was rewritten",
        )
    if head is None or head[0] < anchor_id:
        ends = f"ends at row {head[0]}" if head else "is empty"
        return ChainBreak(
            anchor_id,
            "removed",
            f"the log {ends}, but row {anchor_id} was anchored: the newest rows were removed",
        )
    return ChainBreak(anchor_id, "removed", f"the anchored row {anchor_id} is gone")


class HeadLogger:
    """Logs the log's head whenever it has moved: anchors kept by the log store."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._logged: tuple[int, str] | None = None

    async def log_head(self, database: Database, table: Table) -> tuple[int, str] | None:
        async with database.sessions() as session:
            found = await head(session, table)
        if found is not None and found != self._logged:
            log.info(
                "audit log head of %s: row %d, hash %s",
                self.service,
                found[0],
                found[1],
                extra={"audit_head_id": found[0], "audit_head_hash": found[1]},
            )
            self._logged = found
        return found
