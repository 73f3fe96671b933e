"""Personal data sealed under a key per customer, on real PostgreSQL: what is stored reveals
nothing, a moved value does not open, keys rotate, and erasing a customer makes every
sealed copy unreadable."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from orderly_kit.db import Database, new_metadata
from orderly_kit.personal_data import (
    DEVELOPMENT_LOOKUP_KEY,
    PersonalDataError,
    Vault,
    add_customer_keys_table,
    masked_email,
)

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
EMAIL = "marked.customerson@example.com"

metadata = new_metadata()
customer_keys = add_customer_keys_table(metadata)


def a_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


K1, K2 = a_key(), a_key()


def vault(keys: dict[str, str], active: str) -> Vault:
    return Vault(table=customer_keys, keys=keys, active=active, lookup_key=DEVELOPMENT_LOOKUP_KEY)


@pytest.fixture
async def database(fresh_database: str) -> AsyncIterator[Database]:
    db = Database(fresh_database)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield db
    await db.dispose()


async def test_a_sealed_field_opens_for_its_customer_and_field_only(database: Database) -> None:
    v = vault({"k1": K1}, "k1")
    async with database.transaction() as session:
        key = await v.key_for(session, "C1", now=NOW)
        sealed = v.seal(key, "C1", "email", EMAIL)
        other = await v.key_for(session, "C2", now=NOW)

    assert EMAIL.encode() not in sealed
    assert v.open(key, "C1", "email", sealed) == EMAIL
    with pytest.raises(PersonalDataError, match="moved from another row or field"):
        v.open(key, "C1", "name", sealed)
    with pytest.raises(PersonalDataError):
        v.open(other, "C2", "email", sealed)


async def test_two_racing_first_orders_of_a_customer_make_one_key(database: Database) -> None:
    v1, v2 = vault({"k1": K1}, "k1"), vault({"k1": K1}, "k1")  # two replicas

    async def first_key(v: Vault) -> bytes:
        async with database.transaction() as session:
            return await v.key_for(session, "C1", now=NOW)

    a, b = await asyncio.gather(first_key(v1), first_key(v2))

    assert a == b
    async with database.sessions() as session:
        assert len((await session.execute(select(customer_keys))).all()) == 1


async def test_rotation_rewraps_every_key_and_the_data_still_opens(database: Database) -> None:
    old = vault({"k1": K1}, "k1")
    async with database.transaction() as session:
        sealed = {c: old.seal(await old.key_for(session, c, now=NOW), c, "name", c) for c in "ABC"}

    new = vault({"k2": K2, "k1": K1}, "k2")
    async with database.transaction() as session:
        assert await new.rotate(session, batch=2) == 2
    async with database.transaction() as session:
        assert await new.rotate(session, batch=2) == 1
        assert await new.rotate(session) == 0

    retired = vault({"k2": K2}, "k2")  # k1 is gone from the settings
    async with database.sessions() as session:
        for customer, value in sealed.items():
            key = await retired.existing_key(session, customer)
            assert retired.open(key, customer, "name", value) == customer
        assert {r.key_id for r in await session.execute(select(customer_keys))} == {"k2"}


async def test_a_key_the_settings_do_not_hold_is_named(database: Database) -> None:
    async with database.transaction() as session:
        await vault({"k1": K1}, "k1").key_for(session, "C1", now=NOW)
    with pytest.raises(PersonalDataError, match="wrapped by key 'k1', which the settings do not"):
        async with database.sessions() as session:
            await vault({"k2": K2}, "k2").existing_key(session, "C1")


async def test_an_erased_customer_s_data_no_longer_opens_anywhere(database: Database) -> None:
    v = vault({"k1": K1}, "k1")
    async with database.transaction() as session:
        key = await v.key_for(session, "C1", now=NOW)
        sealed = v.seal(key, "C1", "email", EMAIL)
    backup = await _rows(database)  # a backup taken before the erasure

    async with database.transaction() as session:
        assert await v.erase(session, "C1", now=NOW) is True
        assert await v.erase(session, "C1", now=NOW) is False

    replica = vault({"k1": K1}, "k1")  # another process, with nothing cached
    async with database.sessions() as session:
        assert await replica.existing_key(session, "C1") is None
    assert replica.open(None, "C1", "email", sealed) is None
    with pytest.raises(PersonalDataError, match="was erased"):
        async with database.transaction() as session:
            await replica.key_for(session, "C1", now=NOW)
    # The erased row keeps no key; only a backup taken before still holds the wrapped one.
    assert [r[1:3] for r in await _rows(database)] == [(None, None)]
    assert backup[0][2] is not None


async def test_erasing_a_customer_never_seen_keeps_nothing_for_them_later(
    database: Database,
) -> None:
    v = vault({"k1": K1}, "k1")
    async with database.transaction() as session:
        assert await v.erase(session, "C9", now=NOW) is False
    with pytest.raises(PersonalDataError, match="was erased"):
        async with database.transaction() as session:
            await v.key_for(session, "C9", now=NOW)


async def test_sealed_data_travels_to_a_service_holding_the_key_encryption_key(
    database: Database,
) -> None:
    order, inventory = vault({"k1": K1}, "k1"), vault({"k0": K2, "k1": K1}, "k0")
    async with database.transaction() as session:
        key = await order.key_for(session, "C1", now=NOW)
    sealed = order.sealed_data(key, "C1", {"customer_email": EMAIL, "customer_name": "Marked"})

    assert EMAIL not in sealed.model_dump_json()
    assert inventory.open_sealed(sealed) == {"customer_email": EMAIL, "customer_name": "Marked"}
    with pytest.raises(PersonalDataError, match=r"key 'k1'.*settings do not hold"):
        vault({"k2": K2}, "k2").open_sealed(sealed)
    moved = sealed.model_copy(update={"customer_id": "C2"})
    with pytest.raises(PersonalDataError, match="moved from another row or field"):
        inventory.open_sealed(moved)
    forged = sealed.model_copy(update={"data_key": base64.b64encode(os.urandom(40)).decode()})
    with pytest.raises(PersonalDataError, match="does not unwrap"):
        inventory.open_sealed(forged)


async def test_a_receiver_keeps_its_own_key_and_forgets_it_on_erasure(
    database: Database,
) -> None:
    receiver = vault({"k1": K1}, "k1")
    async with database.transaction() as session:
        first = await receiver.own_key(session, "C1", now=NOW)
        again = await receiver.own_key(session, "C1", now=NOW)
        assert first is not None
        assert first == again
        await receiver.erase(session, "C1", now=NOW)
    async with database.transaction() as session:
        assert await receiver.own_key(session, "C1", now=NOW) is None  # nothing kept anew
        assert await receiver.own_key(session, "C9", now=NOW) is not None


def test_logs_show_an_email_masked() -> None:
    assert masked_email(EMAIL) == "m***@example.com"
    assert masked_email("no-at-sign") == "***"


def test_lookups_are_keyed_and_ignore_case_and_spaces() -> None:
    v = vault({"k1": K1}, "k1")
    other = Vault(table=customer_keys, keys={"k1": K1}, active="k1", lookup_key=a_key())
    assert v.lookup(EMAIL) == v.lookup(f"  {EMAIL.upper()} ")
    assert v.lookup(EMAIL) != other.lookup(EMAIL)
    assert EMAIL not in v.lookup(EMAIL)


def test_a_key_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(PersonalDataError, match="must be 32 bytes"):
        vault({"k1": base64.b64encode(b"short").decode()}, "k1")
    with pytest.raises(PersonalDataError, match="active key 'k3' is not among the keys"):
        vault({"k1": K1}, "k3")


async def _rows(database: Database) -> list[tuple[Any, ...]]:
    async with database.sessions() as session:
        return [tuple(r) for r in await session.execute(select(customer_keys))]
