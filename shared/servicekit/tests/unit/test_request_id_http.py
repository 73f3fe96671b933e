"""Every request has an id: the caller's well-formed X-Request-ID, else a new one; the route,
its logs and its answer all see the same one."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData

from orderly_kit.context import current_request_id
from orderly_kit.logging import configure_logging
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.request_id_http import RequestId
from orderly_kit.service import build_service
from orderly_kit.settings import ServiceSettings

log = logging.getLogger("test.request_id")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.add_middleware(RequestId)

    @app.get("/seen")
    async def seen() -> dict[str, str | None]:
        log.info("serving")
        return {"request_id": current_request_id.get()}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("test", level="INFO")
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    written = io.StringIO()
    handler.setStream(written)
    yield written
    root.handlers[:], root.level = handlers, level


@pytest.mark.parametrize(
    "given", ["3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b", "Root=1-5759e988-bd86:a/b+c@d_e.f", "x"]
)
async def test_a_well_formed_request_id_is_kept_and_returned(
    client: httpx.AsyncClient, given: str
) -> None:
    r = await client.get("/seen", headers={"X-Request-ID": given})

    assert r.json() == {"request_id": given}
    assert r.headers["X-Request-ID"] == given


@pytest.mark.parametrize(
    "given",
    [
        "",
        "a" * 129,
        "has space",
        "semi;colon",
        "<script>",
        "4111 1111 1111 1111",
        "4111111111111111",
        "ünïcode",
    ],
)
async def test_a_malformed_request_id_is_replaced_by_a_new_one(
    client: httpx.AsyncClient, given: str
) -> None:
    r = await client.get("/seen", headers=[(b"X-Request-ID", given.encode())])

    made = r.headers["X-Request-ID"]
    assert made != given
    assert uuid.UUID(made)
    assert r.json() == {"request_id": made}


async def test_without_a_request_id_each_request_gets_its_own(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/seen")
    second = await client.get("/seen")

    ids = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
    assert len(ids) == 2
    assert first.json()["request_id"] == first.headers["X-Request-ID"]
    assert current_request_id.get() is None  # nothing leaks out of the request


async def test_the_logs_of_a_request_carry_its_id(
    client: httpx.AsyncClient, stderr: io.StringIO
) -> None:
    await client.get("/seen", headers={"X-Request-ID": "req-42"})
    log.info("outside any request")

    lines = [json.loads(line) for line in stderr.getvalue().splitlines()]
    ours = [line for line in lines if line["logger"] == log.name]
    assert [(line["message"], line["request_id"]) for line in ours] == [
        ("serving", "req-42"),
        ("outside any request", None),
    ]


async def test_every_service_answers_with_the_request_id_even_when_a_guard_refuses(
    tmp_path: Path,
) -> None:
    outbox, inbox = add_messaging_tables(MetaData())
    handlers = logging.getLogger().handlers[:]
    try:
        service = build_service(
            ServiceSettings(log_json=False),
            title="test",
            version="0",
            metadata=outbox.metadata,
            outbox=outbox,
            inbox=inbox,
            migrations_dir=tmp_path,
        )
    finally:
        logging.getLogger().handlers[:] = handlers
    transport = httpx.ASGITransport(app=service.http)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        live = await c.get("/health/live", headers={"X-Request-ID": "probe-1"})
        refused = await c.get("/health/%00", headers={"X-Request-ID": "probe-2"})
    await service.database.dispose()

    assert (live.status_code, live.headers["X-Request-ID"]) == (200, "probe-1")
    assert (refused.status_code, refused.headers["X-Request-ID"]) == (422, "probe-2")
