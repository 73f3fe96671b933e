"""A request body over its limit is refused with 413 before anything parses it, and one
that comes too slowly with 408, which closes the connection.

The guard is called as the server calls it, with a ``receive`` that hands out the body
in chunks, so that a test sees how much of a body was read; inside it, as in every
service, a guard that reads each body before routing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import StreamingResponse
from starlette.types import Message

from orderly_kit.http_limits import LimitRequestBodies
from orderly_kit.input_guard_http import RefuseCardDataAndUnsafeText

LIMIT = 1000
IMPORT_LIMIT = 5000


def app_with_limits(received: list[Any], *, body_timeout: float = 5.0) -> FastAPI:
    app = FastAPI()
    app.add_middleware(RefuseCardDataAndUnsafeText)  # a guard that reads every body before routing
    app.add_middleware(
        LimitRequestBodies,
        router=app.router,
        max_body_bytes=LIMIT,
        body_timeout_seconds=body_timeout,
    )

    @app.post("/orders")
    async def place(request: Request) -> dict[str, int]:
        body = await request.body()
        received.append(body)
        return {"bytes": len(body)}

    imports = APIRouter()

    @imports.post("/imports/{kind}", max_body_size=IMPORT_LIMIT)
    async def import_file(kind: str, request: Request) -> dict[str, int]:
        body = await request.body()
        received.append(body)
        return {"bytes": len(body)}

    @app.get("/export")
    async def export() -> StreamingResponse:
        async def rows() -> AsyncIterator[bytes]:
            for n in range(3):
                await asyncio.sleep(0.05)
                yield f"{n}\n".encode()

        return StreamingResponse(rows(), media_type="text/csv")

    app.include_router(imports)
    return app


@dataclass
class Client:
    """Sends a request straight to an ASGI app; its body in ``chunks``, counting those read."""

    app: FastAPI
    chunks_read: int = 0
    sent: list[Message] = field(default_factory=list)

    async def request(
        self,
        method: str,
        path: str,
        chunks: list[bytes],
        *,
        content_length: int | None = None,
        stall_after: int | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        headers = [(b"content-type", b"application/octet-stream")]
        if content_length is not None:
            headers.append((b"content-length", str(content_length).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "server": ("test", 80),
            "client": ("127.0.0.1", 5000),
        }

        async def receive() -> Message:
            if stall_after is not None and self.chunks_read >= stall_after:
                await asyncio.Event().wait()  # the client sends nothing more
            n = self.chunks_read
            self.chunks_read += 1
            if n >= len(chunks):
                await asyncio.Event().wait()  # a body is over: only a disconnect could come
            return {"type": "http.request", "body": chunks[n], "more_body": n + 1 < len(chunks)}

        async def send(message: Message) -> None:
            self.sent.append(message)

        await self.app(scope, receive, send)
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
        answer_headers = {k.decode(): v.decode() for k, v in start["headers"]}
        return start["status"], answer_headers, json.loads(body)


@pytest.fixture
def received() -> list[Any]:
    return []


async def test_a_body_declared_too_large_is_refused_at_once_reading_none_of_it(
    received: list[Any],
) -> None:
    client = Client(app_with_limits(received))

    status, headers, answer = await client.request(
        "POST", "/orders", [b"x" * 100] * 20, content_length=12_700_000
    )

    assert (status, "connection" in headers) == (413, False)  # the server drops the rest
    assert answer == {
        "detail": f"the request body is larger than {LIMIT} bytes, the most this endpoint takes"
    }
    assert (client.chunks_read, received) == (0, [])


async def test_a_chunked_body_is_read_no_further_than_past_the_limit(
    received: list[Any],
) -> None:
    client = Client(app_with_limits(received))

    status, _, _ = await client.request("POST", "/orders", [b"x" * 300] * 100)

    assert status == 413
    assert client.chunks_read == 4  # 1200 bytes: past the limit, and nothing more read
    assert received == []


async def test_a_body_within_the_limit_reaches_the_route_whole(received: list[Any]) -> None:
    client = Client(app_with_limits(received))

    status, _, answer = await client.request("POST", "/orders", [b"x" * 250] * 4)

    assert (status, answer) == (200, {"bytes": LIMIT})
    assert received == [b"x" * LIMIT]


async def test_a_route_that_takes_files_declares_its_own_limit_which_applies_before_routing(
    received: list[Any],
) -> None:
    app = app_with_limits(received)

    taken = await Client(app).request("POST", "/imports/products", [b"x" * 4000])
    refused = await Client(app).request(
        "POST", "/imports/products", [b"x" * 100], content_length=5001
    )
    chunked = await Client(app).request("POST", "/imports/stock", [b"x" * 1000] * 6)

    assert taken[0] == 200
    assert (refused[0], refused[2]) == (
        413,
        {
            "detail": f"the request body is larger than {IMPORT_LIMIT} bytes, the most this"
            " endpoint takes"
        },
    )
    assert chunked[0] == 413
    assert received == [b"x" * 4000]


async def test_a_body_that_stops_coming_is_answered_408_and_the_route_sees_the_client_gone(
    received: list[Any],
) -> None:
    client = Client(app_with_limits(received, body_timeout=0.2))

    status, headers, answer = await asyncio.wait_for(
        client.request("POST", "/orders", [b"x" * 100] * 5, stall_after=2), timeout=5
    )

    assert (status, headers["connection"]) == (408, "close")
    assert answer == {
        "detail": "the request body did not arrive within 0.2 seconds of its headers: send it"
        " at once, or in smaller requests"
    }
    assert received == []
    # The route's own answer (FastAPI's 400 for a body it could not read) is not sent.
    assert [m["type"] for m in client.sent] == ["http.response.start", "http.response.body"]


async def test_the_deadline_ends_with_the_body_not_with_a_long_answer(
    received: list[Any],
) -> None:
    app = app_with_limits(received, body_timeout=0.05)
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.get("/export")  # streams for 0.15 s, listening for a disconnect meanwhile

    assert (r.status_code, r.text) == (200, "0\n1\n2\n")
