"""An order too large to take is refused before it is read, and a bad one is answered
without its contents: the order service served over real HTTP as ``serve`` serves it.

In the probe behind issue 12 a 12.7 MB order was parsed whole and answered with an
11.4 MB 422, and the health checks stalled meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from orderly_dev.checkout import make_order
from orderly_dev.identity import DevIssuer
from orderly_dev.servers import serve_http
from orderly_kit.auth import Role
from orderly_kit.service import Service
from orderly_order.bootstrap import build
from orderly_order.settings import OrderSettings


@pytest.fixture
async def service(fresh_database: str, identity: DevIssuer) -> AsyncIterator[Service]:
    built = build(OrderSettings(database_url=fresh_database, log_json=False))
    yield built
    await built.database.dispose()


@pytest.fixture
async def base_url(service: Service) -> AsyncIterator[str]:
    async with serve_http(service.http, settings=service.settings) as url:
        yield url


@pytest.fixture
def checkout(identity: DevIssuer) -> dict[str, str]:
    """The headers of upstream checkout, which may place orders."""
    return identity.headers(Role.CHECKOUT)


def an_order(**fields: Any) -> dict[str, Any]:
    order: dict[str, Any] = json.loads(make_order(random.Random(12)).model_dump_json())
    return order | fields


async def test_a_127_mb_order_is_refused_with_413_and_health_answers_meanwhile(
    base_url: str, checkout: dict[str, str]
) -> None:
    order = an_order()
    order["shipping_address"]["line2"] = "x" * 12_700_000
    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=checkout) as client:

        async def live_while_it_is_sent() -> float:
            started = time.monotonic()
            answer = await client.get("/health/live")
            assert answer.status_code == 200
            return time.monotonic() - started

        placed, health = await asyncio.gather(
            client.post("/orders", json=order), live_while_it_is_sent()
        )

    assert (placed.status_code, placed.json()) == (
        413,
        {"detail": "the request body is larger than 1048576 bytes, the most this endpoint takes"},
    )
    assert health < 1.0


async def test_a_bad_order_is_answered_with_excerpts_not_with_itself(
    base_url: str, checkout: dict[str, str]
) -> None:
    order = an_order(lines=[{"sku": "MUG-001", "quantity": "x" * 900_000}])

    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=checkout) as client:
        refused = await client.post("/orders", json=order)

    assert refused.status_code == 422
    errors = {tuple(e["loc"]): e for e in refused.json()["detail"]}
    quantity = errors["body", "lines", 0, "quantity"]
    assert (quantity["input"], quantity["input_cut"]) == ("x" * 100 + "…", True)
    assert len(refused.content) < 2_000
