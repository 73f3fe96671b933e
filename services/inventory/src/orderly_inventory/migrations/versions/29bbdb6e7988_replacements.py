"""replacements: goods shipped for an order in parcels of their own (ShipReplacement)

Revision ID: 29bbdb6e7988
Revises: b7c9d1e3f5a2
Create Date: 2026-12-09 12:00:00

Written by hand. ``replacements`` keeps each replacement under its id (so a re-sent
ShipReplacement is answered again), ``replacement_reservations`` the stock it took per SKU
and warehouse (reserved while picked, then shipped or released), and its parcels are
``shipments`` rows with ``replacement_id`` set: an order's own parcels stay unique per
warehouse (now a partial unique index, for the rows without one), a replacement's per
warehouse of the replacement.

Downgrade deletes the replacements' parcels (with their tracking history) and drops the
tables; the stock they shipped stays shipped in the ledger.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "29bbdb6e7988"
down_revision: str | None = "b7c9d1e3f5a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDER_PARCELS = "replacement_id IS NULL"


def upgrade() -> None:
    op.create_table(
        "replacements",
        sa.Column("replacement_id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("refusal", sa.String(length=2000), nullable=True),
        sa.Column(
            "short_skus",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("ship_to_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("ship_to", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("command_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "status IN ('picking', 'shipped', 'delivered', 'failed', 'refused')",
            name=op.f("ck_replacements_status_known"),
        ),
        sa.CheckConstraint(
            "(status = 'refused') = (refusal IS NOT NULL)",
            name=op.f("ck_replacements_refused_with_reason"),
        ),
        sa.CheckConstraint(
            "status <> 'picking' OR due_at IS NOT NULL",
            name=op.f("ck_replacements_picking_until_due"),
        ),
        sa.PrimaryKeyConstraint("replacement_id", name=op.f("pk_replacements")),
    )
    op.create_index(
        "ix_replacements_order", "replacements", ["order_id", "requested_at", "replacement_id"]
    )
    op.create_index(
        "ix_replacements_due",
        "replacements",
        ["due_at"],
        postgresql_where=sa.text("status = 'picking'"),
    )
    op.create_table(
        "replacement_reservations",
        sa.Column("replacement_id", sa.UUID(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("warehouse", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "quantity > 0", name=op.f("ck_replacement_reservations_quantity_positive")
        ),
        sa.CheckConstraint(
            "status IN ('reserved', 'shipped', 'released')",
            name=op.f("ck_replacement_reservations_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["replacement_id"],
            ["replacements.replacement_id"],
            name=op.f("fk_replacement_reservations_replacement_id_replacements"),
        ),
        sa.ForeignKeyConstraint(
            ["sku", "warehouse"],
            ["stock_levels.sku", "stock_levels.warehouse"],
            name=op.f("fk_replacement_reservations_stock_levels"),
        ),
        sa.PrimaryKeyConstraint(
            "replacement_id", "sku", "warehouse", name=op.f("pk_replacement_reservations")
        ),
    )
    op.add_column("shipments", sa.Column("replacement_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_shipments_replacement_id_replacements"),
        "shipments",
        "replacements",
        ["replacement_id"],
        ["replacement_id"],
    )
    op.drop_constraint("uq_shipments_order_id_warehouse", "shipments", type_="unique")
    op.create_index(
        "uq_shipments_order_id_warehouse",
        "shipments",
        ["order_id", "warehouse"],
        unique=True,
        postgresql_where=sa.text(ORDER_PARCELS),
    )
    op.create_unique_constraint(
        "uq_shipments_replacement_id_warehouse", "shipments", ["replacement_id", "warehouse"]
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM shipment_tracking WHERE shipment_id IN"
        " (SELECT shipment_id FROM shipments WHERE replacement_id IS NOT NULL)"
    )
    op.execute("DELETE FROM shipments WHERE replacement_id IS NOT NULL")
    op.drop_constraint("uq_shipments_replacement_id_warehouse", "shipments", type_="unique")
    op.drop_index(
        "uq_shipments_order_id_warehouse",
        table_name="shipments",
        postgresql_where=sa.text(ORDER_PARCELS),
    )
    op.create_unique_constraint(
        "uq_shipments_order_id_warehouse", "shipments", ["order_id", "warehouse"]
    )
    op.drop_constraint(
        op.f("fk_shipments_replacement_id_replacements"), "shipments", type_="foreignkey"
    )
    op.drop_column("shipments", "replacement_id")
    op.drop_table("replacement_reservations")
    op.drop_index(
        "ix_replacements_due",
        table_name="replacements",
        postgresql_where=sa.text("status = 'picking'"),
    )
    op.drop_index("ix_replacements_order", table_name="replacements")
    op.drop_table("replacements")
