"""Customers' names, emails and addresses are sealed at rest in the order service: the rows
hold none of it in plaintext, support still reads it, keys rotate, older orders are
sealed later, and an erased customer's data opens nowhere.

The service is built as in production but not started: FastStream's in-memory broker
runs the real subscriber (which places the orders), ASGITransport the real HTTP app and
the operator's ``customers`` command runs as from the shell, on a real database.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from faststream.kafka import TestKafkaBroker
from pydantic import SecretStr
from sqlalchemy import select, text, update

from orderly_dev.checkout import headers_for, make_order
from orderly_dev.identity import DevIssuer
from orderly_kit import audit, migrations
from orderly_kit.auth import Role
from orderly_kit.cli import operator_name
from orderly_kit.personal_data import Vault
from orderly_kit.service import Service
from orderly_order.adapters.orm import customer_keys, orders, outbox
from orderly_order.bootstrap import MIGRATIONS, build
from orderly_order.entrypoints.cli import customers
from orderly_order.settings import OrderSettings
from orderly_schemas import topics
from orderly_schemas.checkout import Address, Customer, OrderPlaced
from orderly_schemas.inventory import ReserveStock
from orderly_schemas.order import OrderConfirmed
from orderly_schemas.personal import CustomerErased

NAME = "Marked Customerson"
EMAIL = "marked.customerson@example.com"
STREET = "17 Hidden Lane"


async def audited(service: Service) -> list[tuple[Any, ...]]:
    """The audit log: action, actor, target, after."""
    log = audit.table_in(service.metadata)
    async with service.database.sessions() as session:
        rows = await session.execute(
            select(log.c.action, log.c.actor, log.c.target, log.c.after).order_by(log.c.id)
        )
        return [tuple(r) for r in rows]


def settings(database_url: str, **keys: Any) -> OrderSettings:
    return OrderSettings(database_url=database_url, log_json=False, **keys)


@pytest.fixture
async def database_url(fresh_database: str) -> str:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    return fresh_database


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[Service]:
    built = build(settings(database_url))
    built.consumer()
    yield built
    await built.database.dispose()


@pytest.fixture
async def support(service: Service, identity: DevIssuer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.http)
    headers = identity.headers(Role.SUPPORT, sub="sam")
    async with httpx.AsyncClient(transport=transport, base_url="http://o", headers=headers) as c:
        yield c


async def place(service: Service, customer_id: str = "C-MARKED") -> OrderPlaced:
    order = make_order(random.Random(customer_id))
    order = order.model_copy(
        update={
            "customer": Customer(customer_id=customer_id, email=EMAIL, name=NAME),
            "shipping_address": order.shipping_address.model_copy(
                update={"name": NAME, "line1": STREET}
            ),
        }
    )
    async with TestKafkaBroker(service.broker) as broker:
        await broker.publish(
            json.loads(order.model_dump_json()),
            topic=topics.CHECKOUT_ORDERS,
            key=str(order.order_id).encode(),
            headers={k: v.decode() for k, v in headers_for(order)},
        )
    return order


async def order_row(service: Service, order: OrderPlaced) -> dict[str, Any]:
    async with service.database.sessions() as session:
        row = (
            (await session.execute(select(orders).where(orders.c.order_id == order.order_id)))
            .mappings()
            .one()
        )
    return dict(row)


def plaintext_in(row: dict[str, Any]) -> list[str]:
    blob = json.dumps(row, default=lambda v: v.hex() if isinstance(v, bytes) else str(v))
    raw = b"".join(v for v in row.values() if isinstance(v, bytes))
    return [s for s in (NAME, EMAIL, STREET) if s in blob or s.encode() in raw or s.lower() in blob]


async def end(service: Service, order: OrderPlaced) -> None:
    """The saga ran its course (arranged: the other services are not running here)."""
    async with service.database.transaction() as session:
        await session.execute(
            update(orders).where(orders.c.order_id == order.order_id).values(status="completed")
        )


async def test_an_order_keeps_its_customer_sealed_and_support_reads_it(
    service: Service, support: httpx.AsyncClient
) -> None:
    order = await place(service)

    row = await order_row(service, order)
    shown = (await support.get(f"/orders/{order.order_id}")).json()

    assert plaintext_in(row) == []
    assert row["customer_email_lookup"] == service.messaging.vault.lookup(EMAIL)  # type: ignore[union-attr]
    assert shown["customer"] == {
        "customer_id": "C-MARKED",
        "name": NAME,
        "email": EMAIL,
        "erased": False,
    }
    assert shown["shipping_address"]["line1"] == STREET


async def outbox_messages(service: Service) -> list[tuple[str, str]]:
    """Every message in the outbox: its type and its payload."""
    async with service.database.sessions() as session:
        rows = await session.execute(
            select(outbox.c.message_type, outbox.c.payload).order_by(outbox.c.id)
        )
        return [(t, p if isinstance(p, str) else bytes(p).decode()) for t, p in rows]


async def test_what_the_saga_sends_carries_the_customer_sealed(service: Service) -> None:
    await place(service)

    sent = dict(await outbox_messages(service))
    confirmed = OrderConfirmed.model_validate_json(sent["OrderConfirmed"])
    reserve = ReserveStock.model_validate_json(sent["ReserveStock"])
    # A service holding the key-encryption keys (inventory, notification) opens them.
    reader = Vault(
        table=customer_keys,
        keys={k: v.get_secret_value() for k, v in service.settings.data_keys.items()},
        active=service.settings.data_key_id,
        lookup_key=service.settings.data_lookup_key.get_secret_value(),
    )

    assert [m for m, payload in sent.items() if plaintext_of(payload)] == []
    assert (confirmed.customer_email, reserve.ship_to) == (None, None)
    assert confirmed.personal is not None
    assert reserve.personal is not None
    assert reader.open_sealed(confirmed.personal) == {"customer_email": EMAIL}
    address = Address.model_validate_json(reader.open_sealed(reserve.personal)["shipping_address"])
    assert (address.name, address.line1) == (NAME, STREET)


def plaintext_of(payload: str) -> list[str]:
    return [s for s in (NAME, EMAIL, STREET) if s in payload]


async def test_erasing_a_customer_is_refused_while_an_order_is_under_way(
    service: Service, database_url: str
) -> None:
    await place(service)
    assert await customers(build(settings(database_url)), ["erase", "C-MARKED"]) == 1


async def test_an_erased_customer_s_data_no_longer_opens(
    service: Service, support: httpx.AsyncClient, database_url: str
) -> None:
    order = await place(service)
    await end(service, order)

    assert (
        await customers(build(settings(database_url)), ["erase", "C-MARKED", "--operator", "dpo"])
        == 0
    )

    # A process that never saw the key (the service's own cache is this test's process).
    fresh = build(settings(database_url))
    transport = httpx.ASGITransport(app=fresh.http)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://o", headers=support.headers
    ) as c:
        shown = (await c.get(f"/orders/{order.order_id}")).json()
    await fresh.database.dispose()
    async with service.database.sessions() as session:
        key = (await session.execute(select(customer_keys))).mappings().one()

    assert shown["customer"] == {
        "customer_id": "C-MARKED",
        "name": None,
        "email": None,
        "erased": True,
    }
    assert shown["shipping_address"] is None
    assert (await order_row(service, order))["placed_fingerprint"] is None
    assert (key["wrapped_key"], key["key_id"]) == (None, None)
    assert key["erased_at"] is not None
    assert await audited(service) == [
        ("customer.erase", "dpo", "customer:C-MARKED", {"key_destroyed": True, "orders": 1})
    ]
    # Every other holder is told, keyed by the customer.
    [(_, erased)] = [m for m in await outbox_messages(service) if m[0] == "CustomerErased"]
    assert CustomerErased.model_validate_json(erased).customer_id == "C-MARKED"


async def test_a_new_order_for_an_erased_customer_is_dead_lettered_not_kept(
    service: Service, database_url: str
) -> None:
    first = await place(service)
    await end(service, first)
    assert await customers(build(settings(database_url)), ["erase", "C-MARKED"]) == 0

    again = await place(service)

    async with service.database.sessions() as session:
        kept = await session.scalar(
            select(orders.c.order_id).where(orders.c.order_id == again.order_id)
        )
        letter = (
            (
                await session.execute(
                    select(outbox).where(outbox.c.topic == "checkout.orders.v1.dlq")
                )
            )
            .mappings()
            .one()
        )
    assert kept is None
    assert letter["headers"]["dlq_error"] == (
        "PersonalDataError: customer C-MARKED's personal data was erased"
    )
    assert EMAIL not in json.dumps(letter["headers"])


async def test_keys_rotate_and_the_retired_key_can_go(
    service: Service, support: httpx.AsyncClient, database_url: str
) -> None:
    order = await place(service)
    development = service.settings.data_keys
    new = SecretStr(base64.b64encode(os.urandom(32)).decode())

    rotating = settings(database_url, data_keys={"k2": new, **development}, data_key_id="k2")
    assert await customers(build(rotating), ["rotate-keys"]) == 0

    retired = build(settings(database_url, data_keys={"k2": new}, data_key_id="k2"))
    transport = httpx.ASGITransport(app=retired.http)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://o", headers=support.headers
    ) as c:
        shown = (await c.get(f"/orders/{order.order_id}")).json()
    await retired.database.dispose()

    assert shown["customer"]["email"] == EMAIL
    assert await audited(service) == [
        ("data_key.rotate", operator_name(), "data_key:k2", {"rewrapped": 1})
    ]


async def test_an_order_placed_before_sealing_is_read_then_sealed(
    service: Service, support: httpx.AsyncClient, database_url: str
) -> None:
    order = await place(service, customer_id="C-OLD")
    # As the order service before sealing kept it: in plaintext, no sealed columns.
    async with service.database.transaction() as session:
        await session.execute(
            update(orders)
            .where(orders.c.order_id == order.order_id)
            .values(
                customer_name=NAME,
                customer_email=EMAIL,
                shipping_address=order.shipping_address.model_dump(mode="json"),
                customer_name_sealed=None,
                customer_email_sealed=None,
                shipping_address_sealed=None,
                customer_email_lookup=None,
            )
        )
    before = (await support.get(f"/orders/{order.order_id}")).json()

    assert await customers(build(settings(database_url)), ["seal-legacy"]) == 0

    after = (await support.get(f"/orders/{order.order_id}")).json()
    row = await order_row(service, order)
    assert before["customer"]["email"] == after["customer"]["email"] == EMAIL
    assert before["shipping_address"] == after["shipping_address"]
    assert plaintext_in(row) == []


async def test_plaintext_left_by_an_order_placed_before_sealing_is_deleted_on_erasure(
    service: Service, database_url: str
) -> None:
    order = await place(service, customer_id="C-OLD")
    await end(service, order)
    async with service.database.transaction() as session:
        await session.execute(
            text(
                "UPDATE orders SET customer_name = :n, customer_email = :e,"
                " customer_email_sealed = NULL WHERE order_id = :id"
            ),
            {"n": NAME, "e": EMAIL, "id": order.order_id},
        )

    assert await customers(build(settings(database_url)), ["erase", "C-OLD"]) == 0

    assert plaintext_in(await order_row(service, order)) == []


def test_production_refuses_the_development_keys() -> None:
    with pytest.raises(ValueError, match="ORDER_DATA_KEYS") as refused:
        OrderSettings(
            environment="production",
            database_url="postgresql+psycopg://order@db/orderly_order?sslmode=verify-full",
            kafka_bootstrap_servers="kafka:9093",
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_username="order",
            kafka_password="not-a-real-one",
        )
    assert "ORDER_DATA_LOOKUP_KEY" in str(refused.value)
