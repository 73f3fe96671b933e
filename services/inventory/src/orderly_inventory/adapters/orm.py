"""The inventory service's tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from orderly_kit.db import new_metadata
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.personal_data import add_customer_keys_table

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
#: The data key of each customer whose ship-to address a picking keeps (sealed).
customer_keys = add_customer_keys_table(metadata)

warehouses = Table(
    "warehouses",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("region", String(100), nullable=True),
    Column("priority", Integer, nullable=False, server_default="100"),
)

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("sku", String(64), nullable=False),
    Column("warehouse", String(64), ForeignKey("warehouses.code"), nullable=False),
    Column("on_hand", Integer, nullable=False, server_default="0"),
    Column("reserved", Integer, nullable=False, server_default="0"),
    #: Units dispatched by a transfer towards this warehouse and not yet received.
    Column("in_transit", Integer, nullable=False, server_default="0"),
    #: Available stock below this raises LowStockDetected.
    Column("safety_stock", Integer, nullable=False, server_default="0"),
    #: True between a LowStockDetected and the BackInStock that ends it: alerts fire once.
    Column("low_stock", Boolean, nullable=False, server_default="false"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("sku", "warehouse", name="pk_stock_levels"),
    # The last line of defence against overselling; the row lock is the mechanism.
    CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
    CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
    CheckConstraint("in_transit >= 0", name="in_transit_not_negative"),
    CheckConstraint("safety_stock >= 0", name="safety_stock_not_negative"),
)

#: The stock ledger: every change to a stock level is one row here, in the same
#: transaction; the levels are the running sums of these deltas (see ``reconcile``).
stock_movements = Table(
    "stock_movements",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("sku", String(64), nullable=False),
    Column("warehouse", String(64), nullable=False),
    Column("kind", String(30), nullable=False),
    #: Units the movement concerns (positive); a write-off moves units without a delta.
    Column("quantity", Integer, nullable=False),
    Column("on_hand_delta", Integer, nullable=False, server_default="0"),
    Column("reserved_delta", Integer, nullable=False, server_default="0"),
    Column("in_transit_delta", Integer, nullable=False, server_default="0"),
    Column("reason", String(2000), nullable=False),
    #: What caused it: an order id, a stock-take, transfer, purchase order or return.
    Column("reference", String(200), nullable=True),
    Column("actor", String(200), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ForeignKeyConstraint(
        ["sku", "warehouse"],
        ["stock_levels.sku", "stock_levels.warehouse"],
        name="fk_stock_movements_stock_levels",
    ),
    CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    CheckConstraint(
        "kind IN ('opening', 'receipt', 'reservation', 'release', 'expiry', 'shipment',"
        " 'return', 'write_off', 'adjustment', 'transfer_out', 'transfer_in_transit',"
        " 'transfer_in')",
        name="kind_known",
    ),
    Index("ix_stock_movements_level", "sku", "warehouse", "id"),
    Index("ix_stock_movements_occurred_at", "occurred_at"),
    Index("ix_stock_movements_reference", "reference"),
)

#: The catalogue as the ERP knows it; stock levels exist per product per warehouse.
products = Table(
    "products",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", String(2000), nullable=True),
    #: What one unit cost to buy, in minor units; inventory turnover is valued with it.
    Column("unit_cost", Integer, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("default_safety_stock", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("unit_cost IS NULL OR unit_cost >= 0", name="unit_cost_not_negative"),
    CheckConstraint("(unit_cost IS NULL) = (currency IS NULL)", name="cost_has_currency"),
    CheckConstraint("default_safety_stock >= 0", name="default_safety_stock_not_negative"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("warehouse", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Set from reservation_ttl_seconds when stock is reserved; the default only serves
    # writers that do not set it (the previous release's pods during a rolling deploy).
    Column(
        "expires_at",
        DateTime(timezone=True),
        nullable=False,
        server_default=text("now() + interval '1800 seconds'"),
    ),
    PrimaryKeyConstraint("order_id", "sku", "warehouse", name="pk_reservations"),
    ForeignKeyConstraint(
        ["sku", "warehouse"],
        ["stock_levels.sku", "stock_levels.warehouse"],
        name="fk_reservations_stock_levels",
    ),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint(
        "status IN ('reserved', 'released', 'shipped', 'expired')", name="status_known"
    ),
    # The expiry job's scan: only held stock can expire.
    Index("ix_reservations_expiry", "expires_at", postgresql_where=Column("status") == "reserved"),
)

#: One row per order asked to reserve: makes ReserveStock idempotent, failed or not;
#: outcome 'released' is the tombstone a ReleaseStock leaves when it came first.
reservation_requests = Table(
    "reservation_requests",
    metadata,
    Column("order_id", UUID(as_uuid=True), primary_key=True),
    Column("outcome", String(20), nullable=False),
    Column("reason", String(2000), nullable=True),
    Column("short_skus", JSONB, nullable=False, server_default="[]"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("outcome IN ('reserved', 'failed', 'released')", name="outcome_known"),
)

#: One row per parcel: what left one warehouse for an order with one carrier booking, for
#: the order itself or, with ``replacement_id``, for one of its replacements.
shipments = Table(
    "shipments",
    metadata,
    Column("shipment_id", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column(
        "replacement_id",
        UUID(as_uuid=True),
        ForeignKey("replacements.replacement_id"),
        nullable=True,
    ),
    #: Where the parcel left from; '(unsplit)' for a shipment made before orders were
    #: split into one parcel per warehouse, whose stock came from several warehouses.
    Column("warehouse", String(64), nullable=False),
    Column("carrier", String(100), nullable=False),
    Column("tracking_number", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("shipped_at", DateTime(timezone=True), nullable=False),
    #: When the carrier expects to deliver, as it said at booking.
    Column("expected_delivery_at", DateTime(timezone=True), nullable=True),
    #: When the carrier reported the current status, and what it said.
    Column("status_at", DateTime(timezone=True), nullable=True),
    Column("status_detail", String(2000), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    # One parcel per warehouse of the order, and one per warehouse of each replacement.
    Index(
        "uq_shipments_order_id_warehouse",
        "order_id",
        "warehouse",
        unique=True,
        postgresql_where=text("replacement_id IS NULL"),
    ),
    UniqueConstraint("replacement_id", "warehouse", name="uq_shipments_replacement_id_warehouse"),
    UniqueConstraint("tracking_number", name="uq_shipments_tracking_number"),
    CheckConstraint(
        "status IN ('shipped', 'in_transit', 'out_for_delivery', 'delivered', 'failed')",
        name="status_known",
    ),
)

#: Every tracking update applied to a parcel, oldest first: the parcel's history.
shipment_tracking = Table(
    "shipment_tracking",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("shipment_id", UUID(as_uuid=True), ForeignKey("shipments.shipment_id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("detail", String(2000), nullable=True),
    Column("delivery_id", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "status IN ('in_transit', 'out_for_delivery', 'delivered', 'failed')",
        name="status_known",
    ),
    Index("ix_shipment_tracking_shipment", "shipment_id", "id"),
)

#: The delivery ids of the carrier webhooks received: a replayed delivery changes nothing.
#: Rows outlive the signature's timestamp tolerance (twice over), then housekeeping
#: deletes them: an older replay is refused for its timestamp.
carrier_webhook_deliveries = Table(
    "carrier_webhook_deliveries",
    metadata,
    Column("carrier", String(100), nullable=False),
    Column("delivery_id", String(200), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("carrier", "delivery_id", name="pk_carrier_webhook_deliveries"),
    Index("ix_carrier_webhook_deliveries_received_at", "received_at"),
)

#: The simulated carrier's own record: the tracking updates it will send to the webhook,
#: written when it books a parcel (on its own connection, like a carrier's own system)
#: and sent by its job when due, in order per parcel, until answered with a 2xx.
sim_carrier_updates = Table(
    "sim_carrier_updates",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("delivery_id", UUID(as_uuid=True), nullable=False),
    Column("carrier", String(100), nullable=False),
    Column("tracking_number", String(64), nullable=False),
    #: The shipper's reference echoed in each update: the order id.
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("status", String(20), nullable=False),
    Column("detail", String(2000), nullable=True),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    #: Given up after too many failed attempts (a parcel the shipper never recorded).
    Column("given_up_at", DateTime(timezone=True), nullable=True),
    Column("last_error", String(2000), nullable=True),
    UniqueConstraint("delivery_id", name="uq_sim_carrier_updates_delivery_id"),
    CheckConstraint(
        "status IN ('in_transit', 'out_for_delivery', 'delivered', 'failed')",
        name="status_known",
    ),
    CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    Index("ix_sim_carrier_updates_parcel", "tracking_number", "id"),
    # The sender's scan: only updates still to send.
    Index(
        "ix_sim_carrier_updates_due",
        "next_attempt_at",
        postgresql_where=text("sent_at IS NULL AND given_up_at IS NULL"),
    ),
    # What orderly_webhook_deliveries_given_up counts.
    Index(
        "ix_sim_carrier_updates_given_up",
        "given_up_at",
        postgresql_where=text("sent_at IS NULL AND given_up_at IS NOT NULL"),
    ),
)

#: A booking the carrier refused: every later ShipOrder of the order gets the same answer.
shipment_failures = Table(
    "shipment_failures",
    metadata,
    Column("order_id", UUID(as_uuid=True), primary_key=True),
    Column("carrier", String(100), nullable=False),
    Column("reason", String(2000), nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
)

#: An order the warehouse is picking (pick_delay_seconds): the picking job hands it over
#: to the carrier at due_at unless a ReleaseStock or the expiry cancels it first.
pickings = Table(
    "pickings",
    metadata,
    Column("order_id", UUID(as_uuid=True), primary_key=True),
    # The address sealed under the customer's data key (customer_keys); ship_to only for
    # pickings begun from a ShipOrder sent before personal data was sealed.
    Column("customer_id", String(64), nullable=True),
    Column("ship_to_sealed", LargeBinary, nullable=True),
    Column("ship_to", JSONB, nullable=True),
    Column("status", String(20), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("reason", String(2000), nullable=True),
    # The CloudEvents headers of the ShipOrder that started it: the cause of what the
    # hand-over publishes, so OrderShipped keeps its causation and correlation ids.
    Column("ship_order_headers", JSONB, nullable=True),
    CheckConstraint("status IN ('picking', 'shipped', 'failed', 'cancelled')", name="status_known"),
    # The picking job's scan: only pickings in progress become due.
    Index("ix_pickings_due", "due_at", postgresql_where=Column("status") == "picking"),
)

#: A replacement (ShipReplacement): goods sent for an order in parcels of their own, decided
#: once per replacement id, so a re-sent command finds its row and is answered again. While
#: 'picking' (the pick delay) its stock is reserved and the picking job hands it over at
#: due_at; a refusal ('refused') keeps its reason and took nothing. Its parcels are
#: ``shipments`` rows naming it.
replacements = Table(
    "replacements",
    metadata,
    Column("replacement_id", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("status", String(20), nullable=False),
    #: [{"sku": ..., "quantity": ...}] in SKU order: what was asked for.
    Column("lines", JSONB, nullable=False),
    #: Why it is sent, as the command says (a claim, an exchange).
    Column("reason", String(1000), nullable=False),
    Column("refusal", String(2000), nullable=True),
    Column("short_skus", JSONB, nullable=False, server_default="[]"),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=True),
    # The address sealed under the customer's data key (customer_keys), as pickings keep it;
    # ship_to (plaintext, from a producer that does not seal) only until it is handed over.
    Column("customer_id", String(64), nullable=True),
    Column("ship_to_sealed", LargeBinary, nullable=True),
    Column("ship_to", JSONB, nullable=True),
    # The CloudEvents headers of the ShipReplacement: the cause of what its hand-over publishes.
    Column("command_headers", JSONB, nullable=True),
    CheckConstraint(
        "status IN ('picking', 'shipped', 'delivered', 'failed', 'refused')", name="status_known"
    ),
    CheckConstraint("(status = 'refused') = (refusal IS NOT NULL)", name="refused_with_reason"),
    CheckConstraint("status <> 'picking' OR due_at IS NOT NULL", name="picking_until_due"),
    # An order's replacements, newest first (keyset pagination on (requested_at, id)).
    Index("ix_replacements_order", "order_id", "requested_at", "replacement_id"),
    # The picking job's scan: only replacements being picked become due.
    Index("ix_replacements_due", "due_at", postgresql_where=Column("status") == "picking"),
)

#: The stock a replacement took, per SKU and warehouse: 'reserved' while it is picked (the
#: levels' reserved units include it), 'shipped' once it left, 'released' if it was refused
#: at hand-over. Apart from ``reservations``: the order's own hold is never touched.
replacement_reservations = Table(
    "replacement_reservations",
    metadata,
    Column(
        "replacement_id",
        UUID(as_uuid=True),
        ForeignKey("replacements.replacement_id"),
        nullable=False,
    ),
    Column("sku", String(64), nullable=False),
    Column("warehouse", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    PrimaryKeyConstraint("replacement_id", "sku", "warehouse", name="pk_replacement_reservations"),
    ForeignKeyConstraint(
        ["sku", "warehouse"],
        ["stock_levels.sku", "stock_levels.warehouse"],
        name="fk_replacement_reservations_stock_levels",
    ),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("status IN ('reserved', 'shipped', 'released')", name="status_known"),
)

#: A count of a warehouse's shelves (cycle count): open, then approved or cancelled.
stock_takes = Table(
    "stock_takes",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("warehouse", String(64), ForeignKey("warehouses.code"), nullable=False),
    Column("status", String(20), nullable=False),
    #: 'all': every SKU of the warehouse (and any found there); 'listed': the lines only.
    Column("scope", String(20), nullable=False),
    Column("note", String(2000), nullable=True),
    Column("opened_by", String(200), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("approved_by", String(200), nullable=True),
    Column("approved_at", DateTime(timezone=True), nullable=True),
    Column("cancelled_by", String(200), nullable=True),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
    Column("cancel_reason", String(2000), nullable=True),
    CheckConstraint("status IN ('open', 'approved', 'cancelled')", name="status_known"),
    CheckConstraint("scope IN ('all', 'listed')", name="scope_known"),
    CheckConstraint(
        "(status = 'approved') = (approved_by IS NOT NULL AND approved_at IS NOT NULL)",
        name="approved_with_who_and_when",
    ),
    CheckConstraint(
        "(status = 'cancelled') = (cancelled_by IS NOT NULL AND cancelled_at IS NOT NULL)",
        name="cancelled_with_who_and_when",
    ),
    # The list, newest first (keyset pagination on (opened_at, id)).
    Index("ix_stock_takes_opened", "opened_at", "id"),
    # Opening one looks for the open stock-takes of its warehouse.
    Index("ix_stock_takes_open", "warehouse", postgresql_where=Column("status") == "open"),
)

#: One SKU of a stock-take, with the on hand the system had when the stock-take opened.
stock_take_lines = Table(
    "stock_take_lines",
    metadata,
    Column("stock_take_id", UUID(as_uuid=True), ForeignKey("stock_takes.id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("on_hand_at_open", Integer, nullable=False),
    #: Units approval added to on hand (negative: removed); null until approved or if uncounted.
    Column("adjustment", Integer, nullable=True),
    PrimaryKeyConstraint("stock_take_id", "sku", name="pk_stock_take_lines"),
    CheckConstraint("on_hand_at_open >= 0", name="on_hand_at_open_not_negative"),
)

#: Every count of a line, recounts included: the line's counted quantity is its latest.
stock_take_counts = Table(
    "stock_take_counts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    #: Chosen by the client (or for it), so that a retried request records one count.
    Column("count_id", UUID(as_uuid=True), nullable=False),
    Column("stock_take_id", UUID(as_uuid=True), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("counted_by", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    #: On hand in the ledger when the count was recorded: the count's variance is against it,
    #: so that stock moved while the warehouse counts is not taken for a variance.
    Column("system_on_hand", Integer, nullable=False),
    Column("counted_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(
        ["stock_take_id", "sku"],
        ["stock_take_lines.stock_take_id", "stock_take_lines.sku"],
        name="fk_stock_take_counts_stock_take_lines",
    ),
    UniqueConstraint("count_id", name="uq_stock_take_counts_count_id"),
    CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    CheckConstraint("system_on_hand >= 0", name="system_on_hand_not_negative"),
    Index("ix_stock_take_counts_line", "stock_take_id", "sku", "id"),
)

#: A transfer of stock between two warehouses: draft → dispatched → received, or cancelled.
transfers = Table(
    "transfers",
    metadata,
    Column("transfer_id", UUID(as_uuid=True), primary_key=True),
    Column("from_warehouse", String(64), ForeignKey("warehouses.code"), nullable=False),
    Column("to_warehouse", String(64), ForeignKey("warehouses.code"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("dispatched_by", String(200), nullable=True),
    Column("dispatched_at", DateTime(timezone=True), nullable=True),
    Column("received_by", String(200), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=True),
    Column("cancelled_by", String(200), nullable=True),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(
        "status IN ('draft', 'dispatched', 'received', 'cancelled')", name="status_known"
    ),
    CheckConstraint("from_warehouse <> to_warehouse", name="warehouses_differ"),
    # The listing's order (newest first) and its cursor.
    Index("ix_transfers_created_at", "created_at", "transfer_id"),
)

#: One SKU of a transfer; ``received`` and ``damaged`` are counted when it arrives.
transfer_lines = Table(
    "transfer_lines",
    metadata,
    Column("transfer_id", UUID(as_uuid=True), ForeignKey("transfers.transfer_id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("received", Integer, nullable=True),
    Column("damaged", Integer, nullable=True),
    PrimaryKeyConstraint("transfer_id", "sku", name="pk_transfer_lines"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("received IS NULL OR received >= 0", name="received_not_negative"),
    CheckConstraint("damaged IS NULL OR damaged >= 0", name="damaged_not_negative"),
    CheckConstraint("(received IS NULL) = (damaged IS NULL)", name="counted_together"),
    # The rest of the quantity was lost in transit (and written off).
    CheckConstraint(
        "received IS NULL OR received + damaged <= quantity", name="counts_within_quantity"
    ),
)

#: Goods received against a purchase order, once per delivery note: a retried POST
#: finds its row (the unique key) and receives nothing twice.
goods_receipts = Table(
    "goods_receipts",
    metadata,
    Column("goods_receipt_id", UUID(as_uuid=True), primary_key=True),
    Column("purchase_order", String(64), nullable=False),
    #: The delivery note or the ERP's receipt number, chosen by the client.
    Column("receipt_id", String(100), nullable=False),
    Column("warehouse", String(64), ForeignKey("warehouses.code"), nullable=False),
    #: [{"sku": ..., "quantity": ...}] in SKU order; the movements are the ledger's record.
    Column("lines", JSONB, nullable=False),
    #: SKUs this receipt added to the products table (named after the SKU).
    Column("new_products", JSONB, nullable=False, server_default="[]"),
    Column("received_by", String(200), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("purchase_order", "receipt_id", name="uq_goods_receipts_purchase_order"),
)

#: A customer return restocked (or written off), once per return: a redelivered or
#: re-sent RestockReturn finds its row and is answered again without moving stock.
return_restocks = Table(
    "return_restocks",
    metadata,
    Column("return_id", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("warehouse", String(64), ForeignKey("warehouses.code"), nullable=False),
    #: [{"sku": ..., "quantity": ..., "condition": "resellable" | "damaged"}]
    Column("lines", JSONB, nullable=False),
    Column("restocked_by", String(200), nullable=False),
    Column("restocked_at", DateTime(timezone=True), nullable=False),
)

#: A return's parcel, booked with the carrier to come back to the warehouse that shipped
#: the goods, once per return: a re-sent BookReturnParcel finds its row and is answered
#: again. A refused booking is kept too ('refused', with its reason and no parcel).
return_parcels = Table(
    "return_parcels",
    metadata,
    Column("return_id", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("status", String(20), nullable=False),
    Column("warehouse", String(64), ForeignKey("warehouses.code"), nullable=True),
    Column("carrier", String(100), nullable=True),
    Column("tracking_number", String(64), nullable=True),
    #: [{"sku": ..., "quantity": ...}] in SKU order: what the customer sends back.
    Column("lines", JSONB, nullable=False),
    Column("reason", String(2000), nullable=True),
    #: When the carrier reported the current status, and what it said.
    Column("status_at", DateTime(timezone=True), nullable=True),
    Column("status_detail", String(2000), nullable=True),
    Column("booked_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tracking_number", name="uq_return_parcels_tracking_number"),
    CheckConstraint(
        "status IN ('booked', 'in_transit', 'out_for_delivery', 'delivered', 'failed',"
        " 'received', 'refused')",
        name="status_known",
    ),
    CheckConstraint(
        "(status = 'refused') = (reason IS NOT NULL)"
        " AND (status = 'refused' OR (warehouse IS NOT NULL AND carrier IS NOT NULL"
        " AND tracking_number IS NOT NULL))",
        name="booked_or_refused",
    ),
)

#: A manual correction of on-hand stock, by the id its client chose (the body's
#: adjustment_id or an Idempotency-Key header): a retried request finds its row and
#: gets the first answer back instead of adjusting twice.
stock_adjustments = Table(
    "stock_adjustments",
    metadata,
    Column("adjustment_id", String(200), primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("warehouse", String(64), nullable=False),
    #: Signed units added to on hand.
    Column("quantity", Integer, nullable=False),
    Column("reason", String(2000), nullable=False),
    Column("reference", String(200), nullable=True),
    Column("actor", String(200), nullable=False),
    Column("movement_id", BigInteger, ForeignKey("stock_movements.id"), nullable=False),
    #: On hand right after the adjustment, as first answered.
    Column("on_hand", Integer, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("quantity <> 0", name="quantity_not_zero"),
)
