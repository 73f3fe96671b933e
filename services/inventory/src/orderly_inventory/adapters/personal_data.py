"""The ship-to address a stock command carries sealed (``orderly_schemas.personal``):
opened when the command is handled, and kept sealed again under this service's own data
key for the customer (``customer_keys``), beside the customer's id.

Once the customer is erased (CustomerErased destroys that key), the addresses kept here
open nowhere: ``ShipTo.address`` is then None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.personal_data import Vault
from orderly_schemas.checkout import Address
from orderly_schemas.inventory import ReserveStock, ShipOrder, ShipReplacement
from orderly_schemas.personal import SHIPPING_ADDRESS


@dataclass(frozen=True)
class ShipTo:
    """A ship-to address, opened (None once the customer is erased), and as it is kept:
    sealed under the customer's key here, or — from a command sent before addresses were
    sealed, which names no customer — in plaintext (``sealed`` None)."""

    address: Address | None
    customer_id: str | None = None
    sealed: bytes | None = None


#: The stock commands that carry a ship-to address.
AddressedCommand = ReserveStock | ShipOrder | ShipReplacement


def address_in(vault: Vault, command: AddressedCommand) -> Address | None:
    """The address ``command`` ships to, opened and kept nowhere; None if it names none."""
    if command.personal is None:
        return command.ship_to
    return Address.model_validate_json(vault.open_sealed(command.personal)[SHIPPING_ADDRESS])


async def ship_to_of(
    vault: Vault, session: AsyncSession, command: AddressedCommand, *, now: datetime
) -> ShipTo | None:
    """The address ``command`` ships to; None if it names none."""
    personal = command.personal
    if personal is None:
        return None if command.ship_to is None else ShipTo(command.ship_to)
    customer_id = personal.customer_id
    text = vault.open_sealed(personal)[SHIPPING_ADDRESS]
    key = await vault.own_key(session, customer_id, now=now)
    if key is None:  # erased here already: nothing of theirs is kept
        return ShipTo(address=None, customer_id=customer_id)
    return ShipTo(
        address=Address.model_validate_json(text),
        customer_id=customer_id,
        sealed=vault.seal(key, customer_id, SHIPPING_ADDRESS, text),
    )


def open_ship_to(
    vault: Vault,
    *,
    customer_id: str | None,
    sealed: bytes | None,
    plaintext: object,
    key_id: str | None,
    wrapped_key: bytes | None,
) -> ShipTo:
    """The ship-to address kept in a row, read beside its customer's wrapped key."""
    if sealed is None or customer_id is None:
        return ShipTo(None if plaintext is None else Address.model_validate(plaintext))
    opened = vault.open(
        vault.key_of_row(key_id, wrapped_key), customer_id, SHIPPING_ADDRESS, sealed
    )
    return ShipTo(
        address=None if opened is None else Address.model_validate_json(opened),
        customer_id=customer_id,
        sealed=sealed,
    )
