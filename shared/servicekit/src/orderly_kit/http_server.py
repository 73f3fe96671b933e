"""How a service's HTTP API is served: uvicorn, with a deadline for each request's headers.

uvicorn 0.54 times one thing on a connection: ``timeout_keep_alive``, armed after a
response and cancelled by the next byte received (``_unset_keepalive_if_required`` in
``data_received``). Its h11 and httptools protocols arm nothing when a connection opens,
and nothing while a request's line and headers arrive, so a client that opens a
connection and sends nothing, or trickles its headers a byte at a time (slowloris),
holds that connection for as long as it likes; its ASGI application is not called until
the headers are complete, so no middleware can time them. (A request's body is timed by
the ASGI guard in ``http_limits``.)

``HeadersInTime`` is uvicorn's h11 protocol (the one ``http="auto"`` picks where
httptools is not installed, as here) with that deadline: a request's complete headers
must arrive within ``HTTP_HEADER_TIMEOUT_SECONDS`` of the connection opening or of the
previous response, else the client is answered 408 and the connection closed. h11
already bounds their size (16 KiB, answered with 400). The same deadline ends a
connection still sending the body of a request answered before it was read (a 413,
whose rest uvicorn reads and drops): it is closed without another answer. uvicorn takes
a protocol class in its ``http`` option; ``server_options`` gives the options every
service is served with, by its ``serve`` command and by the tests' ``serve_http``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from orderly_kit.settings import ServiceSettings


class HeadersInTime(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers come too late."""

    header_timeout: ClassVar[float] = 10.0
    _waiting: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_headers()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)
        # A new cycle: a request's headers are in. Another protocol: a WebSocket upgrade.
        if self.cycle is not cycle or self.transport.get_protocol() is not self:
            self._stop_waiting()

    def on_response_complete(self) -> None:
        cycle = self.cycle
        super().on_response_complete()
        if self.cycle is cycle:  # no pipelined request started: wait for the next one
            self._wait_for_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _wait_for_headers(self) -> None:
        self._stop_waiting()
        if not self.transport.is_closing():
            self._waiting = self.loop.call_later(self.header_timeout, self._headers_too_late)

    def _stop_waiting(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None

    def _headers_too_late(self) -> None:
        self._waiting = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is not h11.IDLE:
            # Still sending the body of a request answered already (a 413): no new answer.
            self.transport.close()
            return
        body = json.dumps(
            {
                "detail": f"the request's headers did not arrive within"
                f" {self.header_timeout:g} seconds"
            }
        ).encode()
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body)
        )
        self.transport.close()


def headers_in_time(seconds: float) -> type[HeadersInTime]:
    """``HeadersInTime`` with a deadline of ``seconds`` for each request's headers."""
    return type("HeadersInTime", (HeadersInTime,), {"header_timeout": seconds})


def server_options(settings: ServiceSettings) -> dict[str, Any]:
    """The uvicorn options (beyond the app, host and port) every service is served with."""
    return {"http": headers_in_time(settings.http_header_timeout_seconds)}
