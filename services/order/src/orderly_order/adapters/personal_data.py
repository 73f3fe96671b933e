"""An order's personal data (the customer's name and email, the shipping address), sealed
under the customer's data key when the order is placed, and opened when it is read.

Reads join ``customer_keys`` beside the order (``KEY_COLUMNS``), so opening costs no
extra statement. An order placed before personal data was sealed still holds it in its
plaintext columns; ``seal_legacy`` moves it. Once a customer is erased their sealed data
no longer opens: the order is read with None in its place and ``erased`` set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.personal_data import Vault
from orderly_order.adapters.orm import customer_keys, orders
from orderly_schemas.base import Message
from orderly_schemas.checkout import Address
from orderly_schemas.inventory import ReserveStock, ShipOrder, ShipReplacement
from orderly_schemas.order import OrderConfirmed
from orderly_schemas.personal import CUSTOMER_EMAIL, CUSTOMER_NAME, SHIPPING_ADDRESS

#: Read beside an order: its customer's wrapped data key.
KEY_COLUMNS = (
    customer_keys.c.key_id.label("pd_key_id"),
    customer_keys.c.wrapped_key.label("pd_wrapped_key"),
)
WITH_KEYS = orders.outerjoin(customer_keys, customer_keys.c.customer_id == orders.c.customer_id)


@dataclass(frozen=True)
class Contact:
    """What an order keeps of its customer and where it goes; None where erased."""

    name: str | None
    email: str | None
    address: Address | None
    erased: bool = False
    #: The customer's data key, as opened (None: erased, or placed before sealing).
    key: bytes | None = field(default=None, repr=False, compare=False)


def address_json(address: Address) -> str:
    """How an address is sealed: JSON with sorted keys."""
    return json.dumps(address.model_dump(mode="json"), sort_keys=True)


def sealed_message(vault: Vault, key: bytes, customer_id: str, message: Message) -> Message:
    """``message`` as it may leave the service: the personal data it carries sealed under
    the customer's data key (``orderly_schemas.personal``); other messages as they are."""
    if isinstance(message, OrderConfirmed) and message.customer_email is not None:
        values = {CUSTOMER_EMAIL: message.customer_email}
        update = {"customer_email": None}
    elif (
        isinstance(message, ReserveStock | ShipOrder | ShipReplacement)
        and message.ship_to is not None
    ):
        values = {SHIPPING_ADDRESS: address_json(message.ship_to)}
        update = {"ship_to": None}
    else:
        return message
    sealed = vault.sealed_data(key, customer_id, values)
    return message.model_copy(update=update | {"personal": sealed})


def sealed_columns(vault: Vault, key: bytes, customer_id: str, contact: Contact) -> dict[str, Any]:
    """The ``orders`` columns that keep ``contact``, sealed under the customer's ``key``
    (``Vault.key_for`` makes it on their first order)."""
    assert contact.name is not None
    assert contact.email is not None
    assert contact.address is not None
    address = address_json(contact.address)
    return {
        "customer_name_sealed": vault.seal(key, customer_id, CUSTOMER_NAME, contact.name),
        "customer_email_sealed": vault.seal(key, customer_id, CUSTOMER_EMAIL, contact.email),
        "shipping_address_sealed": vault.seal(key, customer_id, SHIPPING_ADDRESS, address),
        "customer_email_lookup": vault.lookup(contact.email),
        "customer_name": None,
        "customer_email": None,
        "shipping_address": None,
    }


def open_contact(vault: Vault, row: RowMapping) -> Contact:
    """The contact of an order ``row`` read with ``KEY_COLUMNS``."""
    customer_id = row["customer_id"]
    if row["customer_email_sealed"] is None:  # placed before sealing: still in plaintext
        address = row["shipping_address"]
        return Contact(
            name=row["customer_name"],
            email=row["customer_email"],
            address=None if address is None else Address.model_validate(address),
            erased=row["customer_email"] is None,
        )
    key = vault.key_of_row(row["pd_key_id"], row["pd_wrapped_key"])
    if key is None:
        return Contact(name=None, email=None, address=None, erased=True)
    address = vault.open(key, customer_id, SHIPPING_ADDRESS, row["shipping_address_sealed"])
    assert address is not None
    return Contact(
        name=vault.open(key, customer_id, CUSTOMER_NAME, row["customer_name_sealed"]),
        email=vault.open(key, customer_id, CUSTOMER_EMAIL, row["customer_email_sealed"]),
        address=Address.model_validate_json(address),
        key=key,
    )


async def seal_legacy(
    vault: Vault, session: AsyncSession, *, now: datetime, batch: int = 500
) -> int:
    """Seal up to ``batch`` orders still holding personal data in plaintext; how many."""
    rows = (
        (
            await session.execute(
                select(
                    orders.c.order_id,
                    orders.c.customer_id,
                    orders.c.customer_name,
                    orders.c.customer_email,
                    orders.c.shipping_address,
                )
                .where(
                    orders.c.customer_email_sealed.is_(None), orders.c.customer_email.is_not(None)
                )
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        .mappings()
        .all()
    )
    for row in rows:
        contact = Contact(
            name=row["customer_name"],
            email=row["customer_email"],
            address=Address.model_validate(row["shipping_address"]),
        )
        key = await vault.key_for(session, row["customer_id"], now=now)
        columns = sealed_columns(vault, key, row["customer_id"], contact)
        await session.execute(
            update(orders).where(orders.c.order_id == row["order_id"]).values(**columns)
        )
    return len(rows)
