"""The analytics service's tables: one read model per table, filled from events."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Index, String, Table, func
from sqlalchemy.dialects.postgresql import UUID

from orderly_kit.db import new_metadata
from orderly_kit.messaging_tables import add_messaging_tables

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

#: When each order reached each stage. Events arrive in any order across topics,
#: so every column but the key and status may still be empty.
order_stages = Table(
    "order_stages",
    metadata,
    Column("order_id", UUID(as_uuid=True), primary_key=True),
    Column("order_number", String(32), nullable=True),
    Column("customer_id", String(64), nullable=True),
    Column("currency", String(3), nullable=True),
    Column("total_amount", BigInteger, nullable=True),
    Column("status", String(20), nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=True),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Column("rejected_at", DateTime(timezone=True), nullable=True),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
    Column("paid_at", DateTime(timezone=True), nullable=True),
    Column("dispatched_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("needs_attention_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("total_amount >= 0", name="total_not_negative"),
    Index("ix_order_stages_placed_at", "placed_at"),
)
