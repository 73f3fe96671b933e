"""The words customers and support write (a case's subject, messages, notes and the reasons
of its moves, a feedback's comment): personal data, kept sealed under this service's data
key for the customer (``orderly_kit.personal_data``, its ``customer_keys``).

Each text is sealed with the customer and its field's name bound in (``CASE_SUBJECT`` …),
so a sealed text moved to another column does not open. Writes seal through a ``Sealer``
(one per unit of work: each customer's key is found, or made, once); a customer erased here
gets nothing new kept (CustomerErasedError). Reads join the key row beside the data
(``KEY_COLUMNS``), so opening costs no extra statement, and open through an ``Opener``:
once the customer is erased their texts read None and ``erased`` is set.

Rows written before sealing keep their text in the plaintext column beside the sealed one
(read as it is) until ``seal_legacy`` moves it; erasing the customer clears it
(``forget_plaintext``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import ColumnElement, FromClause, RowMapping, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.clock import Clock
from orderly_kit.personal_data import Vault
from orderly_support.adapters.orm import (
    case_messages,
    case_notes,
    case_status_history,
    cases,
    customer_keys,
    feedback,
)
from orderly_support.domain.refusals import CustomerErasedError

#: The fields' names, bound into each seal beside the customer's id.
CASE_SUBJECT: Final = "case_subject"
CASE_MESSAGE: Final = "case_message"
CASE_NOTE: Final = "case_note"
CASE_REASON: Final = "case_reason"
FEEDBACK_COMMENT: Final = "feedback_comment"

#: Read beside a row that names its customer: their wrapped data key, and their erasure.
KEY_COLUMNS = (
    customer_keys.c.key_id.label("pd_key_id"),
    customer_keys.c.wrapped_key.label("pd_wrapped_key"),
    customer_keys.c.erased_at.label("pd_erased_at"),
)


def with_keys(table: Table) -> FromClause:
    """``table`` (which has ``customer_id``) joined to its customers' keys."""
    return table.outerjoin(customer_keys, customer_keys.c.customer_id == table.c.customer_id)


@dataclass
class Sealer:
    """Seals the texts of one unit of work, each under its customer's data key."""

    vault: Vault
    session: AsyncSession
    clock: Clock
    _keys: dict[str, bytes] = field(default_factory=dict)

    async def seal(self, customer_id: str, name: str, text: str) -> bytes:
        """``text`` of field ``name`` sealed for ``customer_id`` (their key made the first
        time); CustomerErasedError if they were erased here."""
        key = self._keys.get(customer_id)
        if key is None:
            key = await self.vault.own_key(self.session, customer_id, now=self.clock())
            if key is None:
                raise CustomerErasedError(customer_id)
            self._keys[customer_id] = key
        return self.vault.seal(key, customer_id, name, text)

    async def seal_optional(self, customer_id: str, name: str, text: str | None) -> bytes | None:
        """As ``seal``; None (and no key needed) for no text."""
        return None if text is None else await self.seal(customer_id, name, text)


@dataclass(frozen=True)
class Opener:
    """Opens the texts of one customer, from a row read with ``KEY_COLUMNS``."""

    vault: Vault
    customer_id: str
    key: bytes | None
    #: The customer's personal data was erased: their texts read None.
    erased: bool

    @classmethod
    def of_row(cls, vault: Vault, row: RowMapping) -> Opener:
        return cls(
            vault=vault,
            customer_id=row["customer_id"],
            key=vault.key_of_row(row["pd_key_id"], row["pd_wrapped_key"]),
            erased=row["pd_erased_at"] is not None,
        )

    def open(self, name: str, sealed: bytes | None, plaintext: str | None) -> str | None:
        """The text kept sealed (None once erased), or, from before sealing, as kept."""
        if sealed is None:
            return plaintext
        return self.vault.open(self.key, self.customer_id, name, sealed)


@dataclass(frozen=True)
class _Kept:
    """A text column kept sealed: its table, its plaintext and sealed columns, its field's
    name, and its customer (on the row, or on the row's case)."""

    table: Table
    text: str
    name: str
    of_case: bool

    @property
    def sealed(self) -> str:
        return f"{self.text}_sealed"

    @property
    def row_id(self) -> Any:
        return self.table.primary_key.columns.values()[0]

    @property
    def customer(self) -> ColumnElement[str]:
        return cases.c.customer_id if self.of_case else self.table.c.customer_id

    def owned_by(self, customer_id: str) -> ColumnElement[bool]:
        """The condition that the row is ``customer_id``'s (joining its case if needed)."""
        owner = self.customer == customer_id
        return (self.table.c.case_id == cases.c.case_id) & owner if self.of_case else owner


KEPT: Final = (
    _Kept(cases, "subject", CASE_SUBJECT, of_case=False),
    _Kept(case_messages, "body", CASE_MESSAGE, of_case=True),
    _Kept(case_notes, "body", CASE_NOTE, of_case=True),
    _Kept(case_status_history, "reason", CASE_REASON, of_case=True),
    _Kept(feedback, "comment", FEEDBACK_COMMENT, of_case=False),
)


async def seal_legacy(sealer: Sealer, *, batch: int = 500) -> int:
    """Seal up to ``batch`` texts still kept in plaintext (a customer erased meanwhile has
    theirs cleared instead); how many. Rows are claimed with SKIP LOCKED, so two runs share
    the work; call until 0."""
    session = sealer.session
    done = 0
    for kept in KEPT:
        t = kept.table
        text, sealed = t.c[kept.text], t.c[kept.sealed]
        query = select(kept.row_id.label("row_id"), text.label("text"), kept.customer)
        if kept.of_case:
            query = query.join_from(t, cases, t.c.case_id == cases.c.case_id)
        rows = (
            await session.execute(
                query.where(sealed.is_(None), text.is_not(None))
                .limit(batch - done)
                .with_for_update(of=t, skip_locked=True)
            )
        ).all()
        for row in rows:
            try:
                value = await sealer.seal(row.customer_id, kept.name, row.text)
            except CustomerErasedError:
                value = None
            await session.execute(
                update(t).where(kept.row_id == row.row_id).values({kept.sealed: value, text: None})
            )
        done += len(rows)
        if done >= batch:
            break
    return done


async def forget_plaintext(session: AsyncSession, customer_id: str) -> None:
    """Clear what rows written before sealing keep of ``customer_id`` in plaintext (their
    sealed texts need nothing: their key is gone)."""
    for kept in KEPT:
        text = kept.table.c[kept.text]
        await session.execute(
            update(kept.table)
            .where(kept.owned_by(customer_id), text.is_not(None))
            .values({text: None})
        )
