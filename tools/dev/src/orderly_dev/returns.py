"""Returns, exchanges and claims driven over the HTTP APIs as a customer, support and the
warehouse drive them: ``make run``'s demo and the end-to-end tests go through here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import httpx

from orderly_dev.eventually import eventually
from orderly_dev.stack import Stack
from orderly_kit.auth import Role

Json = dict[str, Any]


class Returns:
    """The returns API of a running stack (order and inventory services)."""

    def __init__(self, stack: Stack, client: httpx.AsyncClient) -> None:
        self.stack = stack
        self.client = client

    async def ask(
        self,
        order_id: UUID | str,
        customer_id: str,
        lines: Sequence[Json],
        reason: str,
        reason_text: str | None = None,
        *,
        replacement: Sequence[Json] = (),
        by_support: bool = False,
    ) -> Json:
        """The customer (or support for them) asks to return ``lines`` of their order, for
        a refund, or in exchange for ``replacement`` (201, else AssertionError). Only
        support may quote a price for replacement goods the order does not have."""
        body: Json = {"lines": list(lines), "reason": reason}
        if reason_text:
            body["reason_text"] = reason_text
        if replacement:
            body |= {"resolution": "exchange", "replacement": list(replacement)}
        who = (
            self.stack.headers(Role.SUPPORT, sub="demo-support")
            if by_support
            else self.stack.headers(Role.CUSTOMER, customer_id=customer_id)
        )
        r = await self.client.post(
            f"{self.stack.url('order')}/orders/{order_id}/returns", json=body, headers=who
        )
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def approve(self, return_id: str) -> Json:
        return await self._decide(return_id, "approve", None)

    async def reject(self, return_id: str, reason: str) -> Json:
        return await self._decide(return_id, "reject", {"reason": reason})

    async def seen(self, return_id: str) -> Json:
        """The return as support sees it."""
        r = await self.client.get(
            f"{self.stack.url('order')}/returns/{return_id}",
            headers=self.stack.headers(Role.SUPPORT, sub="demo-support"),
        )
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    async def reached(self, return_id: str, *statuses: str, within: float = 60) -> Json:
        """The return once it is in one of ``statuses``."""

        async def found() -> Json | None:
            seen = await self.seen(return_id)
            return seen if seen["status"] in statuses else None

        return await eventually(
            found, within=within, what=f"return {return_id} {' or '.join(statuses)}"
        )

    async def inspect(self, returned: Json, lines: Sequence[Json]) -> httpx.Response:
        """The warehouse records what came back in the parcel, each unit resellable or
        damaged (inventory's POST /returns/{id}/restock), at the return's warehouse."""
        return await self.client.post(
            f"{self.stack.url('inventory')}/returns/{returned['return_id']}/restock",
            json={
                "order_id": returned["order_id"],
                "warehouse": returned["warehouse"],
                "lines": list(lines),
            },
            headers=self.stack.headers(Role.WAREHOUSE, sub="demo-warehouse"),
        )

    async def _decide(self, return_id: str, verb: str, body: Json | None) -> Json:
        r = await self.client.post(
            f"{self.stack.url('order')}/returns/{return_id}/{verb}",
            json=body,
            headers=self.stack.headers(Role.SUPPORT, sub="demo-support"),
        )
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


class Claims:
    """The claims API of a running stack: support settles a parcel lost in transit."""

    def __init__(self, stack: Stack, client: httpx.AsyncClient) -> None:
        self.stack = stack
        self.client = client

    async def open(self, order_id: UUID | str, resolution: str, kind: str = "lost") -> Json:
        """Support opens a claim on the order (201, else AssertionError)."""
        r = await self.client.post(
            f"{self.stack.url('order')}/orders/{order_id}/claims",
            json={"kind": kind, "resolution": resolution},
            headers=self.stack.headers(Role.SUPPORT, sub="demo-support"),
        )
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def seen(self, claim_id: str) -> Json:
        r = await self.client.get(
            f"{self.stack.url('order')}/claims/{claim_id}",
            headers=self.stack.headers(Role.SUPPORT, sub="demo-support"),
        )
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    async def reached(self, claim_id: str, *statuses: str, within: float = 60) -> Json:
        """The claim once it is in one of ``statuses``."""

        async def found() -> Json | None:
            seen = await self.seen(claim_id)
            return seen if seen["status"] in statuses else None

        return await eventually(
            found, within=within, what=f"claim {claim_id} {' or '.join(statuses)}"
        )
