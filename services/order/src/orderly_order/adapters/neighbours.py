"""Reads what the other services keep of an order, over their HTTP APIs, for support's
timeline (``queries.timeline``).

Each read carries the caller's own token (the services check it as they would the
caller's direct request: nothing is seen here that the caller could not see there), runs
concurrently with the others and waits at most ``timeout``; a service that does not
answer, or answers with an error, is reported by name with the reason, never raised: the
timeline shows what it could read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx


@dataclass(frozen=True)
class Read:
    """What one service said of the order: its JSON (None: it keeps nothing of it), or
    why it could not be read."""

    body: Any = None
    problem: str | None = None


#: What the timeline reads of an order, by name: (service, path).
def reads_of(order_id: UUID) -> dict[str, tuple[str, str]]:
    return {
        "shipment": ("inventory", f"/shipments/{order_id}"),
        "replacements": ("inventory", f"/orders/{order_id}/replacements?limit=100"),
        "payment": ("payment", f"/payments/{order_id}"),
        "notifications": ("notification", f"/notifications?order_id={order_id}&limit=200"),
        "cases": ("support", f"/cases?order={order_id}&limit=100"),
        "feedback": ("support", f"/orders/{order_id}/feedback"),
    }


class Neighbours:
    """The other services the order service may read, by name and base URL."""

    def __init__(self, urls: Mapping[str, str], *, timeout: float) -> None:
        self.urls = dict(urls)
        self.timeout = timeout

    async def read(
        self, reads: Mapping[str, tuple[str, str]], *, authorization: str
    ) -> dict[str, Read]:
        async with httpx.AsyncClient(
            timeout=self.timeout, headers={"Authorization": authorization}
        ) as client:
            names = list(reads)
            found = await asyncio.gather(*(self._read(client, *reads[name]) for name in names))
        return dict(zip(names, found, strict=True))

    async def _read(self, client: httpx.AsyncClient, service: str, path: str) -> Read:
        base = self.urls.get(service)
        if base is None:
            return Read(problem=f"{service}: no URL set (ORDER_{service.upper()}_URL)")
        try:
            answer = await client.get(f"{base}{path}")
        except httpx.HTTPError as exc:
            return Read(problem=f"{service}: {type(exc).__name__}")
        if answer.status_code == httpx.codes.NOT_FOUND:
            return Read()
        if answer.is_error:
            return Read(problem=f"{service}: HTTP {answer.status_code}")
        return Read(body=answer.json())
