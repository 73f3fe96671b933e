"""The payment service's tables."""

from __future__ import annotations

from orderly_kit.db import new_metadata
from orderly_kit.messaging_tables import add_messaging_tables

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
