"""Per-message context that logs carry (the order being worked on)."""

from __future__ import annotations

from contextvars import ContextVar

current_order_id: ContextVar[str | None] = ContextVar("current_order_id", default=None)
current_message_id: ContextVar[str | None] = ContextVar("current_message_id", default=None)
