"""Carriers: the port the service ships through, and the simulated carrier of the suite."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from orderly_inventory.domain.shipments import CarrierRefusedError
from orderly_schemas.checkout import Address

__all__ = ["Carrier", "CarrierRefusedError", "Consignment", "SimulatedCarrier"]


@dataclass(frozen=True)
class Consignment:
    """A carrier's receipt for goods handed over."""

    carrier: str
    tracking_number: str


class Carrier(Protocol):
    name: str

    async def book(self, *, order_id: UUID, ship_to: Address, parcels: int) -> Consignment:
        """Hand an order's goods to the carrier; returns its tracking number.

        Raises CarrierRefusedError when the carrier declines the booking for good;
        any other exception is taken as transient and the command is retried.
        """
        ...


class SimulatedCarrier:
    """Books at once with an "SP" + 12 hex digit tracking number; the service times delivery.

    It refuses (CarrierRefusedError) every booking whose ship-to ``postal_code`` is
    ``REFUSED_POSTAL_CODE`` ("00000"), so that the saga's "shipment fails" path can be
    driven end to end: place an order with that postal code.
    """

    REFUSED_POSTAL_CODE = "00000"

    def __init__(self, name: str = "SimPost") -> None:
        self.name = name

    async def book(self, *, order_id: UUID, ship_to: Address, parcels: int) -> Consignment:
        del order_id, parcels
        if ship_to.postal_code.strip() == self.REFUSED_POSTAL_CODE:
            raise CarrierRefusedError(
                f"{self.name} does not deliver to postal code {self.REFUSED_POSTAL_CODE}"
            )
        return Consignment(self.name, "SP" + secrets.token_hex(6).upper())
