"""The order service's tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Sequence,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from orderly_kit.db import new_metadata
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.personal_data import add_customer_keys_table

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
#: Each customer's data key, which seals their name, email and address in ``orders``.
customer_keys = add_customer_keys_table(metadata)
# An order's commands in the outbox, sent or not: whether they are still queued
# (adapters/command_queue.py) when a saga deadline runs out.
Index("ix_outbox_message_key", outbox.c.message_key)

#: Human-readable order numbers: ORD-0000001, ORD-0000002, …
order_number_seq = Sequence("order_number_seq", metadata=metadata, start=1)

orders = Table(
    "orders",
    metadata,
    Column("order_id", UUID(as_uuid=True), primary_key=True),
    Column("order_number", String(32), nullable=False, unique=True),
    Column("status", String(20), nullable=False),
    Column("customer_id", String(64), nullable=False),
    # Personal data, sealed under the customer's data key (orderly_kit.personal_data);
    # written once, when the order is placed. The email is found by its keyed hash.
    Column("customer_email_sealed", LargeBinary, nullable=True),
    Column("customer_name_sealed", LargeBinary, nullable=True),
    Column("shipping_address_sealed", LargeBinary, nullable=True),
    Column("customer_email_lookup", String(64), nullable=True),
    # Orders placed before personal data was sealed keep it here until `customers
    # seal-legacy` moves it into the sealed columns; new orders leave these empty.
    Column("customer_email", String(320), nullable=True),
    Column("customer_name", String(200), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("total_amount", BigInteger, nullable=False),
    Column("shipping_address", JSONB, nullable=True),
    Column("payment_method", String(32), nullable=False),
    Column("payment_token", String(200), nullable=False),
    # What may be shown of the method (brand, last4, exp_month, exp_year): never a card number.
    Column("payment_display", JSONB, nullable=True),
    Column("payment_id", String(100), nullable=True),
    Column("carrier", String(100), nullable=True),
    Column("tracking_numbers", JSONB, nullable=False, server_default="[]"),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("auto_complete_at", DateTime(timezone=True), nullable=True),
    # The saga's persisted wait: when it ends and how often its command was sent again.
    Column("status_since", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("deadline_at", DateTime(timezone=True), nullable=True),
    Column("resends", Integer, nullable=False, server_default="0"),
    # Compensations sent and not yet acknowledged (release_stock, refund_payment).
    Column("pending_compensations", JSONB, nullable=False, server_default="[]"),
    Column("refund_id", String(100), nullable=True),
    Column("cancel_reason", Text, nullable=True),
    # What was ordered (domain.order.fingerprint): a repeat of the order id with another
    # body is refused. None for orders placed before it was kept.
    Column("placed_fingerprint", String(64), nullable=True),
    # The claim that settled a lost or damaged shipment, and its replacement shipment.
    Column("claim_id", UUID(as_uuid=True), nullable=True),
    Column("replacement_id", UUID(as_uuid=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("total_amount >= 0", name="total_not_negative"),
    Index("ix_orders_customer_id", "customer_id"),
    Index("ix_orders_customer_email_lookup", "customer_email_lookup"),
    Index("ix_orders_status", "status", "status_since"),
    Index(
        "ix_orders_deadline_at",
        "deadline_at",
        postgresql_where=Column("deadline_at").isnot(None),
    ),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.order_id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    PrimaryKeyConstraint("order_id", "line_no", name="pk_order_lines"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
)

order_status_history = Table(
    "order_status_history",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.order_id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", Text, nullable=True),
    Column("caused_by", String(200), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_order_status_history_order_id", "order_id", "id"),
)

#: Every operator action on a saga (retry a step, force compensation): who, what, why.
saga_operator_actions = Table(
    "saga_operator_actions",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.order_id"), nullable=False),
    Column("action", String(40), nullable=False),
    Column("operator", String(200), nullable=False),
    Column("reason", Text, nullable=True),
    Column("status_before", String(20), nullable=False),
    Column("status_after", String(20), nullable=False),
    Column("messages_sent", JSONB, nullable=False, server_default="[]"),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_saga_operator_actions_order_id", "order_id", "id"),
)

#: Human-readable return numbers: RMA-0000001, RMA-0000002, …
return_number_seq = Sequence("return_number_seq", metadata=metadata, start=1)

#: Returns of delivered orders (domain.returns): one row per return, its lines beside it.
returns = Table(
    "returns",
    metadata,
    Column("return_id", UUID(as_uuid=True), primary_key=True),
    Column("return_number", String(32), nullable=False, unique=True),
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.order_id"), nullable=False),
    # The order's, copied: both are fixed once the order is placed, and every event names them.
    Column("order_number", String(32), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("reason_text", Text, nullable=True),
    Column("resolution", String(20), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("rejection_reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The saga after approval: the return parcel, what came back, the refund, the wait.
    Column("warehouse", String(64), nullable=True),
    Column("carrier", String(64), nullable=True),
    Column("tracking_number", String(64), nullable=True),
    Column("label_expires_at", DateTime(timezone=True), nullable=True),
    Column("received", JSONB, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=True),
    Column("refund_id", String(100), nullable=True),
    Column("refund_amount", BigInteger, nullable=True),
    Column("restocking_fee", BigInteger, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("closing_reason", Text, nullable=True),
    Column("attention_step", String(20), nullable=True),
    Column("deadline_at", DateTime(timezone=True), nullable=True),
    Column("resends", Integer, nullable=False, server_default=text("0")),
    # An exchange's replacement: its lines at their prices, its shipment, the difference.
    Column("replacement", JSONB, nullable=True),
    Column("replacement_id", UUID(as_uuid=True), nullable=True),
    Column("replacement_state", String(20), nullable=True),
    Column("replacement_carrier", String(64), nullable=True),
    Column("replacement_tracking", JSONB, nullable=True),
    Column("charge_id", String(100), nullable=True),
    Column("charged", BigInteger, nullable=False, server_default=text("0")),
    Index("ix_returns_order_id", "order_id"),
    Index(
        "ix_returns_replacement_id",
        "replacement_id",
        postgresql_where=text("replacement_id IS NOT NULL"),
    ),
    Index("ix_returns_status", "status", "requested_at"),
    Index(
        "ix_returns_deadline_at",
        "deadline_at",
        postgresql_where=text("deadline_at IS NOT NULL"),
    ),
)

#: Every status a return moved to, when and why: its timeline.
return_status_history = Table(
    "return_status_history",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("return_id", UUID(as_uuid=True), ForeignKey("returns.return_id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_return_status_history_return_id", "return_id", "id"),
)

return_lines = Table(
    "return_lines",
    metadata,
    Column("return_id", UUID(as_uuid=True), ForeignKey("returns.return_id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    PrimaryKeyConstraint("return_id", "line_no", name="pk_return_lines"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
)


#: Human-readable claim numbers: CLM-0000001, …
claim_number_seq = Sequence("claim_number_seq", metadata=metadata, start=1)

#: Claims on orders whose parcel was lost or damaged in transit: how support settled each,
#: and where it stands (kept in step with its order's status by ``OrderRepository.save``).
claims = Table(
    "claims",
    metadata,
    Column("claim_id", UUID(as_uuid=True), primary_key=True),
    Column("claim_number", String(32), nullable=False, unique=True),
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.order_id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("resolution", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("opened_by", String(200), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("replacement_id", UUID(as_uuid=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_claims_order_id", "order_id"),
    Index("ix_claims_status", "status", "opened_at"),
)
