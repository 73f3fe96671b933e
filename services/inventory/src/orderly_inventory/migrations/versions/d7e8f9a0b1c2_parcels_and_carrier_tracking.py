"""one shipment per warehouse (parcels), carrier tracking by signed webhook

Revision ID: d7e8f9a0b1c2
Revises: d5a7e9b1c3f4
Create Date: 2026-12-02 10:00:00

Written by hand. An order now ships as one parcel per warehouse, each its own row
in ``shipments`` (unique per order and warehouse) with its own tracking number,
and the carrier reports each parcel's progress by webhook instead of the service
marking shipments delivered on a timer.

Backfill of ``shipments.warehouse``: the warehouse of the order's shipped
reservations when there is exactly one; otherwise (stock from several
warehouses in one consignment, or no reservation recorded) the placeholder
'(unsplit)', which the code reads as "one consignment carried the whole order".

``deliver_after`` becomes ``expected_delivery_at`` (the carrier's estimate, no
longer a timer). Shipments still in flight ('shipped') would have been delivered
by the old timer: each gets one 'delivered' tracking update in the simulated
carrier's record, due at its old ``deliver_after``, so the simulated carrier
delivers it by webhook as the timer would have.

Downgrade keeps the first parcel of each order (by warehouse) and deletes the
others, maps in_transit/out_for_delivery back to 'shipped', and drops the tracking.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d7e8f9a0b1c2"
down_revision: str | None = "d5a7e9b1c3f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSPLIT = "(unsplit)"
TRACKED = "status IN ('in_transit', 'out_for_delivery', 'delivered', 'failed')"


def upgrade() -> None:
    op.add_column("shipments", sa.Column("warehouse", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE shipments s SET warehouse = COALESCE("
        " (SELECT CASE WHEN COUNT(DISTINCT r.warehouse) = 1 THEN MIN(r.warehouse) END"
        "  FROM reservations r WHERE r.order_id = s.order_id AND r.status = 'shipped'),"
        f" '{UNSPLIT}')"
    )
    op.alter_column("shipments", "warehouse", nullable=False)
    op.drop_constraint("uq_shipments_order_id", "shipments", type_="unique")
    op.create_unique_constraint(
        "uq_shipments_order_id_warehouse", "shipments", ["order_id", "warehouse"]
    )
    op.drop_index("ix_shipments_due", table_name="shipments")
    op.alter_column(
        "shipments", "deliver_after", new_column_name="expected_delivery_at", nullable=True
    )
    op.add_column("shipments", sa.Column("status_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("shipments", sa.Column("status_detail", sa.String(length=2000), nullable=True))
    op.drop_constraint(op.f("ck_shipments_status_known"), "shipments", type_="check")
    op.create_check_constraint(
        op.f("ck_shipments_status_known"),
        "shipments",
        "status IN ('shipped', 'in_transit', 'out_for_delivery', 'delivered', 'failed')",
    )
    op.create_table(
        "shipment_tracking",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("shipment_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.String(length=2000), nullable=True),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(TRACKED, name=op.f("ck_shipment_tracking_status_known")),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.shipment_id"],
            name=op.f("fk_shipment_tracking_shipment_id_shipments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_tracking")),
    )
    op.create_index("ix_shipment_tracking_shipment", "shipment_tracking", ["shipment_id", "id"])
    op.create_table(
        "carrier_webhook_deliveries",
        sa.Column("carrier", sa.String(length=100), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("carrier", "delivery_id", name="pk_carrier_webhook_deliveries"),
    )
    op.create_index(
        "ix_carrier_webhook_deliveries_received_at", "carrier_webhook_deliveries", ["received_at"]
    )
    op.create_table(
        "sim_carrier_updates",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.UUID(), nullable=False),
        sa.Column("carrier", sa.String(length=100), nullable=False),
        sa.Column("tracking_number", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=2000), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("abandoned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.CheckConstraint(TRACKED, name=op.f("ck_sim_carrier_updates_status_known")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_sim_carrier_updates_attempts_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sim_carrier_updates")),
        sa.UniqueConstraint("delivery_id", name="uq_sim_carrier_updates_delivery_id"),
    )
    op.create_index(
        "ix_sim_carrier_updates_parcel", "sim_carrier_updates", ["tracking_number", "id"]
    )
    op.create_index(
        "ix_sim_carrier_updates_due",
        "sim_carrier_updates",
        ["next_attempt_at"],
        postgresql_where=sa.text("sent_at IS NULL AND abandoned_at IS NULL"),
    )
    # In-flight shipments: delivered by the simulated carrier when the old timer would have.
    op.execute(
        "INSERT INTO sim_carrier_updates (delivery_id, carrier, tracking_number, order_id,"
        " status, due_at, next_attempt_at)"
        " SELECT md5('orderly-migrated-delivery:' || tracking_number)::uuid, carrier,"
        " tracking_number, order_id, 'delivered', expected_delivery_at, expected_delivery_at"
        " FROM shipments WHERE status = 'shipped' ORDER BY expected_delivery_at, shipment_id"
    )


def downgrade() -> None:
    op.drop_index("ix_sim_carrier_updates_due", table_name="sim_carrier_updates")
    op.drop_index("ix_sim_carrier_updates_parcel", table_name="sim_carrier_updates")
    op.drop_table("sim_carrier_updates")
    op.drop_index(
        "ix_carrier_webhook_deliveries_received_at", table_name="carrier_webhook_deliveries"
    )
    op.drop_table("carrier_webhook_deliveries")
    op.drop_index("ix_shipment_tracking_shipment", table_name="shipment_tracking")
    op.drop_table("shipment_tracking")
    op.execute(
        "DELETE FROM shipments s USING shipments first"
        " WHERE first.order_id = s.order_id AND first.warehouse < s.warehouse"
    )
    op.execute(
        "UPDATE shipments SET status = 'shipped'"
        " WHERE status IN ('in_transit', 'out_for_delivery')"
    )
    op.drop_constraint(op.f("ck_shipments_status_known"), "shipments", type_="check")
    op.create_check_constraint(
        op.f("ck_shipments_status_known"), "shipments", "status IN ('shipped', 'delivered', 'failed')"
    )
    op.drop_column("shipments", "status_detail")
    op.drop_column("shipments", "status_at")
    op.execute("UPDATE shipments SET expected_delivery_at = shipped_at WHERE expected_delivery_at IS NULL")
    op.alter_column(
        "shipments", "expected_delivery_at", new_column_name="deliver_after", nullable=False
    )
    op.create_index(
        "ix_shipments_due",
        "shipments",
        ["deliver_after"],
        postgresql_where=sa.text("status = 'shipped'"),
    )
    op.drop_constraint("uq_shipments_order_id_warehouse", "shipments", type_="unique")
    op.create_unique_constraint("uq_shipments_order_id", "shipments", ["order_id"])
    op.drop_column("shipments", "warehouse")


