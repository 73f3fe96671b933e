"""Personal data encrypted at rest, field by field, under a key of each customer's own.

Each customer has a data key (256-bit, random) kept in the service's ``customer_keys``
table wrapped (AES key wrap, RFC 3394) by a key-encryption key from settings; the row
names which one (``key_id``), so keys rotate: ``rotate`` re-wraps every data key with the
active one, and the old one can be retired once no row names it. A field is sealed with
AES-GCM under the customer's data key, with the customer and the field's name as
associated data, so a sealed value moved to another row or column does not open.
Looking a customer up by email uses ``lookup``: an HMAC of the normalised value under a
key of its own, so equal emails match without the email being stored.

Between services personal data travels sealed (``orderly_schemas.personal``): the sender
seals the fields under the customer's data key and sends that key wrapped by its active
key-encryption key (``sealed_data``); a receiver holding the same key-encryption keys
opens them (``open_sealed``) and keeps what it needs sealed again under its own data key
for the customer (``own_key``), so every service's copy is erased with its own key.

Erasing a customer (``erase``) deletes their wrapped data key: every sealed copy of their
data in this database, and in its backups, can no longer be opened — provided the
backups of ``customer_keys`` itself are kept no longer than the erasure promise (a
restored backup holds the wrapped key as it was). ``open`` then gives None, which the
services show as erased. Every use reads the customer's row (reads join it beside the
data), so an erasure holds at once in every process; what is kept in memory is only the
unwrapping of a wrapped key, which saves the unwrap, never the read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from sqlalchemy import Column, DateTime, LargeBinary, MetaData, String, Table, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_schemas.personal import SealedPersonalData

if TYPE_CHECKING:
    from orderly_kit.settings import ServiceSettings

#: Sealed values start with this byte: the format, so it can change.
FORMAT = b"\x01"
NONCE_BYTES = 12
#: Unwrapped data keys kept in memory, by their wrapped form.
CACHE_SIZE = 10_000

#: Development-only keys (make run, tests); production settings refuse them.
DEVELOPMENT_KEYS = {
    "dev-1": base64.b64encode(hashlib.sha256(b"orderly development data key 1").digest()).decode()
}
DEVELOPMENT_LOOKUP_KEY = base64.b64encode(
    hashlib.sha256(b"orderly development lookup key").digest()
).decode()


class PersonalDataError(Exception):
    """A key is missing or wrong, or a sealed value was tampered with or moved."""


def add_customer_keys_table(metadata: MetaData) -> Table:
    """The wrapped data key of each customer whose personal data this service keeps."""
    return Table(
        "customer_keys",
        metadata,
        Column("customer_id", String(64), primary_key=True),
        # The key-encryption key that wraps it; null once erased.
        Column("key_id", String(64), nullable=True),
        Column("wrapped_key", LargeBinary, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("erased_at", DateTime(timezone=True), nullable=True),
    )


def decode_key(name: str, text: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        raise PersonalDataError(f"key {name!r} is not base64") from None
    if len(key) != 32:
        raise PersonalDataError(f"key {name!r} must be 32 bytes (256 bits), not {len(key)}")
    return key


@dataclass
class Vault:
    """Seals and opens one service's personal data; ``table`` is its ``customer_keys``."""

    table: Table
    #: Key-encryption keys by id, base64; ``active`` wraps new and rotated data keys.
    keys: Mapping[str, str]
    active: str
    lookup_key: str
    _keks: dict[str, bytes] = field(init=False)
    _lookup: bytes = field(init=False)
    _cache: OrderedDict[bytes, bytes] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self._keks = {name: decode_key(name, text) for name, text in self.keys.items()}
        if self.active not in self._keks:
            raise PersonalDataError(f"the active key {self.active!r} is not among the keys")
        self._lookup = decode_key("lookup", self.lookup_key)

    # -- keys -------------------------------------------------------------------
    async def key_for(self, session: AsyncSession, customer_id: str, *, now: datetime) -> bytes:
        """The customer's data key, made (once, whoever races) if they have none yet.

        Raises PersonalDataError for an erased customer: nothing new is kept for them.
        """
        key = await self.own_key(session, customer_id, now=now)
        if key is None:
            raise PersonalDataError(f"customer {customer_id}'s personal data was erased")
        return key

    async def existing_key(self, session: AsyncSession, customer_id: str) -> bytes | None:
        """The customer's data key, or None if they have none (or it was erased)."""
        return await self._load(session, customer_id)

    def key_of_row(self, key_id: str | None, wrapped: bytes | None) -> bytes | None:
        """The data key from a ``customer_keys`` row read beside the data (a join), or None
        if there is none or it was erased."""
        if key_id is None or wrapped is None:
            return None
        return self._unwrap(key_id, wrapped)

    async def _load(self, session: AsyncSession, customer_id: str) -> bytes | None:
        row = (
            await session.execute(
                select(self.table.c.key_id, self.table.c.wrapped_key).where(
                    self.table.c.customer_id == customer_id
                )
            )
        ).first()
        if row is None:
            return None
        return self.key_of_row(row.key_id, row.wrapped_key)

    def _unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        cached = self._cache.get(wrapped)
        if cached is not None:
            self._cache.move_to_end(wrapped)
            return cached
        kek = self._keks.get(key_id)
        if kek is None:
            raise PersonalDataError(
                f"a data key is wrapped by key {key_id!r}, which the settings do not hold"
            )
        try:
            key = aes_key_unwrap(kek, wrapped)
        except InvalidUnwrap:
            raise PersonalDataError(f"key {key_id!r} does not unwrap a data key") from None
        self._cache[wrapped] = key
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return key

    # -- fields -----------------------------------------------------------------
    def seal(self, key: bytes, customer_id: str, name: str, value: str) -> bytes:
        """``value`` of field ``name`` of ``customer_id``, encrypted."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, value.encode(), _context(customer_id, name))
        return FORMAT + nonce + sealed

    def open(self, key: bytes | None, customer_id: str, name: str, sealed: bytes) -> str | None:
        """The value sealed in field ``name`` of ``customer_id``; None once they are erased."""
        if key is None:
            return None
        if not sealed.startswith(FORMAT):
            raise PersonalDataError(f"field {name} is not a sealed value of a known format")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return AESGCM(key).decrypt(nonce, body, _context(customer_id, name)).decode()
        except InvalidTag:
            raise PersonalDataError(
                f"field {name} of customer {customer_id} does not open: altered, or moved from"
                " another row or field"
            ) from None

    # -- between services ---------------------------------------------------------
    def sealed_data(
        self, key: bytes, customer_id: str, values: Mapping[str, str]
    ) -> SealedPersonalData:
        """``values`` (field name → value) sealed for another service that holds the
        key-encryption keys: the data key travels wrapped by the active one."""
        return SealedPersonalData(
            customer_id=customer_id,
            key_id=self.active,
            data_key=base64.b64encode(aes_key_wrap(self._keks[self.active], key)).decode(),
            fields={
                name: base64.b64encode(self.seal(key, customer_id, name, value)).decode()
                for name, value in values.items()
            },
        )

    def open_sealed(self, sealed: SealedPersonalData) -> dict[str, str]:
        """Every field of personal data another service sealed (field name → value): its
        data key travels wrapped by one of the key-encryption keys these settings hold.
        Raises PersonalDataError for a key it does not hold or a field that does not open.
        A service keeps what it needs sealed again under its own key (``own_key``)."""
        key = self._unwrap(sealed.key_id, _b64("the data key", sealed.data_key))
        opened = {}
        for name in sealed.fields:
            value = self.open(key, sealed.customer_id, name, self.sealed_field(sealed, name))
            assert value is not None
            opened[name] = value
        return opened

    async def own_key(
        self, session: AsyncSession, customer_id: str, *, now: datetime
    ) -> bytes | None:
        """This service's data key for the customer, made (once, whoever races) the first
        time; None if they were erased here, and then nothing new is kept for them.

        One statement for a customer seen for the first time (the insert returns the key it
        kept), two for one seen before (the insert keeps nothing, the read finds theirs).
        """
        made = (
            await session.execute(
                insert(self.table)
                .values(
                    customer_id=customer_id,
                    key_id=self.active,
                    wrapped_key=aes_key_wrap(self._keks[self.active], os.urandom(32)),
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["customer_id"])
                .returning(self.table.c.key_id, self.table.c.wrapped_key)
            )
        ).first()
        if made is not None:
            return self.key_of_row(made.key_id, made.wrapped_key)
        return await self._load(session, customer_id)

    def sealed_field(self, sealed: SealedPersonalData, name: str) -> bytes:
        """Field ``name`` of ``sealed`` as sealed bytes, to keep as they came."""
        text = sealed.fields.get(name)
        if text is None:
            raise PersonalDataError(f"the sealed personal data carries no field {name}")
        return _b64(f"field {name}", text)

    def lookup(self, value: str) -> str:
        """A keyed hash of ``value`` (trimmed, lower-cased) to find it by, e.g. an email."""
        normalised = value.strip().lower().encode()
        return hmac.new(self._lookup, normalised, hashlib.sha256).hexdigest()

    # -- operations -------------------------------------------------------------
    async def rotate(self, session: AsyncSession, *, batch: int = 500) -> int:
        """Re-wrap up to ``batch`` data keys still wrapped by another key with the active
        one; returns how many (call until 0)."""
        rows = (
            await session.execute(
                select(self.table.c.customer_id, self.table.c.key_id, self.table.c.wrapped_key)
                .where(self.table.c.key_id != self.active, self.table.c.wrapped_key.is_not(None))
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            key = self._unwrap(row.key_id, row.wrapped_key)
            await session.execute(
                update(self.table)
                .where(self.table.c.customer_id == row.customer_id)
                .values(key_id=self.active, wrapped_key=aes_key_wrap(self._keks[self.active], key))
            )
        return len(rows)

    async def erase(self, session: AsyncSession, customer_id: str, *, now: datetime) -> bool:
        """Destroy the customer's data key; False if they had none or it was already gone."""
        done = await session.execute(
            update(self.table)
            .where(self.table.c.customer_id == customer_id, self.table.c.wrapped_key.is_not(None))
            .values(key_id=None, wrapped_key=None, erased_at=now)
        )
        if done.rowcount:  # type: ignore[attr-defined]
            return True
        # No key (yet): keep a tombstone, so that nothing new is kept for them either.
        await session.execute(
            insert(self.table)
            .values(customer_id=customer_id, created_at=now, erased_at=now)
            .on_conflict_do_nothing(index_elements=["customer_id"])
        )
        return False


def vault_from(settings: ServiceSettings, table: Table) -> Vault:
    """The vault the service's settings describe, over its ``customer_keys`` table."""
    return Vault(
        table=table,
        keys={k: v.get_secret_value() for k, v in settings.data_keys.items()},
        active=settings.data_key_id,
        lookup_key=settings.data_lookup_key.get_secret_value(),
    )


def development_vault(table: Table | None = None) -> Vault:
    """A vault with the development keys, as ``make run`` and the tests' services have it
    (``table``: the service's ``customer_keys``; by default one of no database, for sealing
    and opening only)."""
    return Vault(
        table=table if table is not None else add_customer_keys_table(MetaData()),
        keys=DEVELOPMENT_KEYS,
        active=next(iter(DEVELOPMENT_KEYS)),
        lookup_key=DEVELOPMENT_LOOKUP_KEY,
    )


def masked_email(email: str) -> str:
    """``email`` as logs may show it: the first letter and the domain (``j***@example.com``)."""
    local, at, domain = email.partition("@")
    return f"{local[:1]}***{at}{domain}" if at else "***"


def _b64(what: str, text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise PersonalDataError(f"{what} is not base64") from None


def _context(customer_id: str, name: str) -> bytes:
    return f"{customer_id}\x00{name}".encode()
