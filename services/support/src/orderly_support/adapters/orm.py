"""The support service's tables.

Free text (a case's subject, its messages and internal notes, the reasons of its moves, a
feedback's comment) lives here and nowhere else: the events on ``support.events.v1`` carry
none of it. It is personal data, kept sealed under the customer's data key
(``customer_keys``, ``adapters/personal_data.py``) in the ``*_sealed`` columns; the
plaintext column beside each holds the text only of rows written before sealing, until
``python -m orderly_support customers seal-legacy`` moves it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Interval,
    LargeBinary,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from orderly_kit.db import new_metadata
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.personal_data import add_customer_keys_table

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
#: This service's data key of each customer whose words it keeps (sealed under it).
customer_keys = add_customer_keys_table(metadata)

#: The orders support knows from order.events.v1: whose each is, its SKUs (and the units of
#: each, ``units[i]`` of ``skus[i]``) and when it was confirmed, its delivery.
orders = Table(
    "orders",
    metadata,
    Column("order_id", UUID(as_uuid=True), primary_key=True),
    Column("order_number", String(32), nullable=False, unique=True),
    Column("customer_id", String(64), nullable=False),
    Column("skus", ARRAY(String(64)), nullable=False),
    Column("units", ARRAY(Integer), nullable=False, server_default=text("'{}'")),
    # Null for an order known only from its delivery, or confirmed before units were kept.
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_orders_confirmed_at", "confirmed_at"),
)

#: The returns the after-sales report counts, from order.returns.v1: ids, the reason's code,
#: what came back to which warehouse, the money and the times; no words, no person (the
#: customer's reason_text and the rejection's words are not kept).
returns = Table(
    "returns",
    metadata,
    Column("return_id", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("reason", String(20), nullable=False),
    # The customer asked for other goods in exchange (true even once it fell back to a refund).
    Column("exchange", Boolean, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=True),
    Column("warehouse", String(64), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=True),
    # The units received of each SKU (``units[i]`` of ``skus[i]``), whatever their condition.
    Column("skus", ARRAY(String(64)), nullable=False, server_default=text("'{}'")),
    Column("units", ARRAY(Integer), nullable=False, server_default=text("'{}'")),
    Column("replacement_shipped_at", DateTime(timezone=True), nullable=True),
    Column("replacement_unavailable_at", DateTime(timezone=True), nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("refunded", BigInteger, nullable=True),
    Column("refunded_currency", String(3), nullable=True),
    Column("restocking_fee", BigInteger, nullable=True),
    Column("restocking_fee_currency", String(3), nullable=True),
    Column("charged", BigInteger, nullable=True),
    Column("charged_currency", String(3), nullable=True),
    Index("ix_returns_requested_at", "requested_at"),
    Index("ix_returns_received_at", "received_at"),
    Index("ix_returns_completed_at", "completed_at"),
)

#: The claims the after-sales report counts, from OrderClaimed on order.events.v1.
claims = Table(
    "claims",
    metadata,
    Column("claim_id", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("resolution", String(12), nullable=False),
    Column("carrier", Text, nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Index("ix_claims_claimed_at", "claimed_at"),
)

#: A customer's feedback on a delivered order: one per order.
feedback = Table(
    "feedback",
    metadata,
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.order_id"), primary_key=True),
    Column("order_number", String(32), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("rating", SmallInteger, nullable=False),
    Column("comment", Text, nullable=True),
    Column("comment_sealed", LargeBinary, nullable=True),
    # [{"sku": ..., "rating": ...}], one per SKU of the order.
    Column("line_ratings", JSONB, nullable=False),
    Column("given_by", String(200), nullable=False),
    Column("given_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("edits", Integer, nullable=False, server_default=text("0")),
    CheckConstraint("rating BETWEEN 1 AND 5", name="rating_1_to_5"),
    Index("ix_feedback_given_at", "given_at", "order_id"),
)

#: Case numbers (CS-0000001) come from their own sequence.
case_number_seq = Sequence("case_number_seq", start=1, metadata=metadata)

cases = Table(
    "cases",
    metadata,
    Column("case_id", UUID(as_uuid=True), primary_key=True),
    Column("case_number", String(32), nullable=False, unique=True),
    Column("category", String(20), nullable=False),
    Column("subject", String(200), nullable=True),
    Column("subject_sealed", LargeBinary, nullable=True),
    Column("customer_id", String(64), nullable=False),
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.order_id"), nullable=True),
    Column("order_number", String(32), nullable=True),
    Column("return_id", UUID(as_uuid=True), nullable=True),
    Column("claim_id", UUID(as_uuid=True), nullable=True),
    Column("status", String(24), nullable=False),
    Column("assignee", String(200), nullable=True),
    Column("opened_by", String(200), nullable=False),
    Column("opened_by_party", String(10), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("first_response_due_at", DateTime(timezone=True), nullable=False),
    Column("first_responded_at", DateTime(timezone=True), nullable=True),
    Column("first_response_breached_at", DateTime(timezone=True), nullable=True),
    Column("resolution_due_at", DateTime(timezone=True), nullable=False),
    Column("resolution_paused_since", DateTime(timezone=True), nullable=True),
    Column("resolution_paused", Interval, nullable=False, server_default=text("'0'")),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("resolution_breached_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("satisfaction", SmallInteger, nullable=True),
    Column("rated_at", DateTime(timezone=True), nullable=True),
    # The earliest agreement still pending: when the breach job looks at the case next.
    Column("sla_due_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(
        "status IN ('new', 'open', 'waiting_on_customer', 'resolved', 'closed')",
        name="status_known",
    ),
    CheckConstraint(
        "category IN ('delivery', 'damaged', 'missing_item', 'payment', 'return', 'other')",
        name="category_known",
    ),
    CheckConstraint("satisfaction BETWEEN 1 AND 5", name="satisfaction_1_to_5"),
    Index("ix_cases_opened_at", "opened_at", "case_id"),
    Index("ix_cases_status", "status"),
    Index("ix_cases_customer_id", "customer_id"),
    Index("ix_cases_order_id", "order_id"),
    Index("ix_cases_assignee", "assignee"),
    Index("ix_cases_sla_due", "sla_due_at", postgresql_where=text("sla_due_at IS NOT NULL")),
)

#: Every status a case moved to, from which, by whom and why, oldest first.
case_status_history = Table(
    "case_status_history",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("case_id", UUID(as_uuid=True), ForeignKey("cases.case_id"), nullable=False),
    Column("from_status", String(24), nullable=True),
    Column("to_status", String(24), nullable=False),
    Column("by", String(200), nullable=False),
    Column("reason", Text, nullable=True),
    Column("reason_sealed", LargeBinary, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_case_status_history_case_id", "case_id", "id"),
)

#: The conversation with the customer: what they wrote and what support wrote to them.
case_messages = Table(
    "case_messages",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("case_id", UUID(as_uuid=True), ForeignKey("cases.case_id"), nullable=False),
    Column("author", String(200), nullable=False),
    Column("party", String(10), nullable=False),
    Column("body", Text, nullable=True),
    Column("body_sealed", LargeBinary, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    CheckConstraint("party IN ('customer', 'support')", name="party_known"),
    Index("ix_case_messages_case_id", "case_id", "id"),
)

#: Support's internal notes: never shown to the customer (a table of their own, which no
#: read of a customer's touches).
case_notes = Table(
    "case_notes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("case_id", UUID(as_uuid=True), ForeignKey("cases.case_id"), nullable=False),
    Column("author", String(200), nullable=False),
    Column("body", Text, nullable=True),
    Column("body_sealed", LargeBinary, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_case_notes_case_id", "case_id", "id"),
)
