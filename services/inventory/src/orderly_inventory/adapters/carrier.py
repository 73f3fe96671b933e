"""Carriers: the port the service ships through, and the simulated carrier of the suite."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from orderly_schemas.checkout import Address


@dataclass(frozen=True)
class Consignment:
    """A carrier's receipt for goods handed over."""

    carrier: str
    tracking_number: str


class Carrier(Protocol):
    name: str

    async def book(self, *, order_id: UUID, ship_to: Address, parcels: int) -> Consignment:
        """Hand an order's goods to the carrier; returns its tracking number."""
        ...


class SimulatedCarrier:
    """Books at once with an "SP" + 12 hex digit tracking number; the service times delivery."""

    def __init__(self, name: str = "SimPost") -> None:
        self.name = name

    async def book(self, *, order_id: UUID, ship_to: Address, parcels: int) -> Consignment:
        del order_id, ship_to, parcels
        return Consignment(self.name, "SP" + secrets.token_hex(6).upper())
