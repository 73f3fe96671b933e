"""HTTP guard on how much a request may send, and how slowly: every service, in the kit.

A body larger than ``HTTP_MAX_BODY_BYTES`` (1 MiB by default) is refused with 413
before anything parses it: at once when its Content-Length says so (the route is not
called and no byte of the body is read), else as soon as the bytes received pass the
limit (a chunked body is read no further). A route that takes files declares a limit of
its own with FastAPI's ``max_body_size`` (``@router.post(..., max_body_size=...)``),
which this guard applies before any other guard reads the body (FastAPI applies it only
once routed, after them). A body not received in full ``HTTP_BODY_TIMEOUT_SECONDS``
after the request's headers is answered with 408.

Whoever was reading the body (a route, or another guard before it) is told the client
went away, and its answer, if any, is dropped. Without this a 12.7 MB order was parsed
whole, answered with an 11.4 MB 422, and held the event loop long enough to fail the
health checks. The guard wraps every other one (``build_service`` adds it last), so no
guard reads more than the limit either.

The 408 closes the connection (``Connection: close``): the client has stopped sending.
The 413 does not, on purpose: many clients (httpx among them) read no answer until they
have sent the whole body, and a connection closed with bytes unread is reset, the 413
lost with it (httpx saw only a ReadError). So the server reads on and drops the rest of the body,
unparsed and unbuffered, and keeps the connection if the client sends another request;
the kit's server (``http_server``) closes it if that takes longer than the header
timeout.

The request's headers are timed by the server (``http_server``): an ASGI application is
called only once they are complete.
"""

from __future__ import annotations

import asyncio
from typing import Final

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_GONE: Final[Message] = {"type": "http.disconnect"}


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes, the most this endpoint takes"


class LimitRequestBodies:
    """ASGI middleware: 413 for a body over its route's limit, 408 (closing the connection)
    for one that comes too slowly; ``router`` holds the routes that may declare a limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        router: Router,
        max_body_bytes: int,
        body_timeout_seconds: float,
    ) -> None:
        self.app = app
        self.router = router
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout_seconds
        self._declared: list[tuple[RouteContext, int]] | None = None
        self.too_slow = (
            f"the request body did not arrive within {body_timeout_seconds:g} seconds of its"
            " headers: send it at once, or in smaller requests"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refusal(413, _too_large(limit))(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        body = _GuardedBody(
            scope, receive, send, limit=limit, deadline=deadline, too_slow=self.too_slow
        )
        try:
            await self.app(scope, body.receive, body.send)
        except ClientDisconnect:
            if not body.answered:
                raise
            # A route reading the body itself was told the client went away: we said so.

    def limit_for(self, scope: Scope) -> int:
        """The ``max_body_size`` the route of ``scope`` declares, else the service's limit."""
        if self._declared is None:
            # Read once, at the first request: the routes are complete by then. (Walking
            # FastAPI's included routers takes half a millisecond; matching these, nothing.)
            self._declared = [
                (route, int(declared))
                for route in iter_route_contexts(self.router.routes)
                if (declared := getattr(route, "max_body_size", None)) is not None
            ]
        for route, declared in self._declared:
            if route.matches(scope)[0] is Match.FULL:
                return declared
        return self.max_body_bytes


class _GuardedBody:
    """The ``receive`` and ``send`` of one request, counting its body against the limit and
    the deadline until the body is complete or the answer has begun."""

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        limit: int,
        deadline: float,
        too_slow: str,
    ) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self.limit = limit
        self.deadline = deadline
        self.too_slow = too_slow
        self.received = 0
        self.complete = False
        self.started = False
        self.answered = False  # this guard answered: the client is gone for the app

    async def receive(self) -> Message:
        if self.answered:
            return _GONE
        if self.complete or self.started:
            return await self._receive()
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            return await self._answer(408, self.too_slow)
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                return await self._answer(413, _too_large(self.limit))
            self.complete = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def _answer(self, status: int, detail: str) -> Message:
        self.answered = True
        if not self.started:
            await _refusal(status, detail)(self._scope, _nothing, self._send)
        return _GONE


def _refusal(status: int, detail: str) -> JSONResponse:
    closing = {"connection": "close"} if status == 408 else None
    return JSONResponse({"detail": detail}, status_code=status, headers=closing)


async def _nothing() -> Message:  # a response that is only sent never receives
    return _GONE


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = bytes(value).strip()
            return int(text) if text.isdigit() else None
    return None
