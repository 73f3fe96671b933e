"""Slow and oversized requests, against a service served as ``serve`` serves it (uvicorn with
the kit's server options and guards), from a raw socket.

A client that trickles its headers (slowloris), sends nothing, or stops sending its body
is answered 408 and its connection closed, within the timeout; a body declared larger
than the limit is answered 413 at once, before the client sends it. Timeouts are short
here so that a test waits them out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orderly_dev.servers import serve_http
from orderly_kit.db import new_metadata
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.service import Service, build_service
from orderly_kit.settings import ServiceSettings

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

TIMEOUT = 0.5
#: How much later than its timeout a connection may be closed, on a busy machine.
SLACK = 2.0


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    built = build_service(
        ServiceSettings(
            service_name="edge",
            log_json=False,
            http_header_timeout_seconds=TIMEOUT,
            http_body_timeout_seconds=TIMEOUT,
            http_max_body_bytes=1000,
        ),
        title="edge",
        version="0",
        metadata=metadata,
        outbox=outbox,
        inbox=inbox,
        migrations_dir=Path("."),
    )

    @built.http.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, int]:
        return {"fields": len(body)}

    yield built
    await built.database.dispose()


@pytest.fixture
async def address(service: Service) -> AsyncIterator[tuple[str, int]]:
    async with serve_http(service.http, settings=service.settings) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def request_head(content_length: int | None = None) -> bytes:
    head = b"POST /echo HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
    if content_length is not None:
        head += b"Content-Length: %d\r\n" % content_length
    return head + b"\r\n"


async def answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The status line and the body of the server's next answer."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=SLACK)
    status, *lines = head.split(b"\r\n")
    fields = dict(line.lower().split(b": ", 1) for line in lines if line)
    return status, await reader.readexactly(int(fields[b"content-length"]))


async def until_closed(reader: asyncio.StreamReader) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    answer = await asyncio.wait_for(reader.read(), timeout=TIMEOUT + SLACK)
    return answer, time.monotonic() - started


async def test_headers_trickled_byte_by_byte_are_answered_408_and_the_connection_closed(
    address: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*address)

    async def trickle() -> None:
        for byte in b"POST /echo HTTP/1.1\r\nHost: edge\r\nX-Padding: " + b"a" * 1000:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)

    sending = asyncio.create_task(trickle())
    try:
        answer, waited = await until_closed(reader)
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sending
        writer.close()

    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"connection: close" in answer.lower()
    assert answer.endswith(
        b'{"detail": "the request\'s headers did not arrive within 0.5 seconds"}'
    )
    assert TIMEOUT * 0.9 <= waited < TIMEOUT + SLACK


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    address: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*address)
    try:
        answer, waited = await until_closed(reader)
    finally:
        writer.close()

    assert answer.startswith(b"HTTP/1.1 408")
    assert TIMEOUT * 0.9 <= waited < TIMEOUT + SLACK


async def test_a_body_that_stops_coming_is_answered_408_and_the_connection_closed(
    address: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(request_head(content_length=500) + b'{"a": ')
    try:
        answer, waited = await until_closed(reader)
    finally:
        writer.close()

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"connection: close" in head.lower()
    assert body == (
        b'{"detail":"the request body did not arrive within 0.5 seconds of its headers:'
        b' send it at once, or in smaller requests"}'
    )
    assert TIMEOUT * 0.9 <= waited < TIMEOUT + SLACK


async def test_a_body_declared_too_large_is_answered_413_at_once_without_reading_it(
    address: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(request_head(content_length=12_700_000))  # and not a byte of the body
    try:
        started = time.monotonic()
        status, body = await answer(reader)
        waited = time.monotonic() - started
        rest, _ = await until_closed(reader)  # the body never comes: closed at the timeout
    finally:
        writer.close()

    assert status.startswith(b"HTTP/1.1 413 ")
    assert body == (
        b'{"detail":"the request body is larger than 1000 bytes, the most this endpoint takes"}'
    )
    assert waited < TIMEOUT  # not waiting for the body
    assert rest == b""  # and nothing more said


async def test_a_client_sending_a_body_too_large_reads_the_413_and_may_go_on(
    address: tuple[str, int],
) -> None:
    big = b'{"lines": "' + b"x" * 12_700_000 + b'"}'
    body = b'{"a": 1, "b": 2}'
    reader, writer = await asyncio.open_connection(*address)
    try:
        # The whole body is sent (the server reads on and drops it), then another request.
        writer.write(request_head(content_length=len(big)) + big)
        writer.write(request_head(content_length=len(body)) + body)
        await writer.drain()
        (too_large, _), (then, answered) = await answer(reader), await answer(reader)
    finally:
        writer.close()

    assert too_large.startswith(b"HTTP/1.1 413 ")
    assert (then, answered) == (b"HTTP/1.1 200 OK", b'{"fields":2}')


async def test_a_kept_alive_connection_has_the_same_deadline_for_its_next_headers(
    address: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*address)
    body = b'{"a": 1, "b": 2}'
    try:
        for _ in range(2):  # two requests on one connection, answered in full
            writer.write(request_head(content_length=len(body)) + body)
            assert await answer(reader) == (b"HTTP/1.1 200 OK", b'{"fields":2}')
        writer.write(b"POST /echo HTTP/1.1\r\nHost: ed")  # the third request's head stalls
        last, waited = await until_closed(reader)
    finally:
        writer.close()

    assert last.startswith(b"HTTP/1.1 408")
    assert waited < TIMEOUT + SLACK
