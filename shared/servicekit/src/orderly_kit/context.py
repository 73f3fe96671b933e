"""Per-message and per-request context that logs and audit rows carry."""

from __future__ import annotations

from contextvars import ContextVar

current_order_id: ContextVar[str | None] = ContextVar("current_order_id", default=None)
current_message_id: ContextVar[str | None] = ContextVar("current_message_id", default=None)
#: The HTTP request being served (``X-Request-ID``, see ``request_id_http``).
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
