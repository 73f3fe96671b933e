"""the stock ledger, safety stock and low-stock flag, in-transit stock, products

Revision ID: c4f1d2e3a5b6
Revises: a0ae3f3fbc7d
Create Date: 2026-11-30 21:00:00

Written by hand. Every stock level that exists gets one 'opening' movement for
its current on hand and reserved units, so that the ledger and the levels
agree from this release on (``reconcile`` checks it). Products are backfilled
from the SKUs that have stock, named after their SKU until the ERP import
names them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4f1d2e3a5b6"
down_revision: str | None = "a0ae3f3fbc7d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = (
    "kind IN ('opening', 'receipt', 'reservation', 'release', 'expiry', 'shipment',"
    " 'return', 'write_off', 'adjustment', 'transfer_out', 'transfer_in_transit',"
    " 'transfer_in')"
)


def upgrade() -> None:
    op.add_column(
        "stock_levels", sa.Column("in_transit", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "stock_levels", sa.Column("safety_stock", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "stock_levels", sa.Column("low_stock", sa.Boolean(), server_default="false", nullable=False)
    )
    op.create_check_constraint(op.f("ck_stock_levels_in_transit_not_negative"), "stock_levels", "in_transit >= 0")
    op.create_check_constraint(
        op.f("ck_stock_levels_safety_stock_not_negative"), "stock_levels", "safety_stock >= 0"
    )
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("warehouse", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("on_hand_delta", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reserved_delta", sa.Integer(), server_default="0", nullable=False),
        sa.Column("in_transit_delta", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column(
            "occurred_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_stock_movements_quantity_not_negative")),
        sa.CheckConstraint(KINDS, name=op.f("ck_stock_movements_kind_known")),
        sa.ForeignKeyConstraint(
            ["sku", "warehouse"],
            ["stock_levels.sku", "stock_levels.warehouse"],
            name="fk_stock_movements_stock_levels",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movements")),
    )
    op.create_index("ix_stock_movements_level", "stock_movements", ["sku", "warehouse", "id"])
    op.create_index("ix_stock_movements_occurred_at", "stock_movements", ["occurred_at"])
    op.create_index("ix_stock_movements_reference", "stock_movements", ["reference"])
    op.create_table(
        "products",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("unit_cost", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("default_safety_stock", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "unit_cost IS NULL OR unit_cost >= 0", name=op.f("ck_products_unit_cost_not_negative")
        ),
        sa.CheckConstraint("(unit_cost IS NULL) = (currency IS NULL)", name=op.f("ck_products_cost_has_currency")),
        sa.CheckConstraint(
            "default_safety_stock >= 0", name=op.f("ck_products_default_safety_stock_not_negative")
        ),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_products")),
    )
    op.execute(
        "INSERT INTO stock_movements (sku, warehouse, kind, quantity, on_hand_delta,"
        " reserved_delta, reason, actor)"
        " SELECT sku, warehouse, 'opening', on_hand, on_hand, reserved,"
        " 'opening balance when the stock ledger was introduced', 'migration'"
        " FROM stock_levels ORDER BY sku, warehouse"
    )
    op.execute("INSERT INTO products (sku, name) SELECT DISTINCT sku, sku FROM stock_levels")


def downgrade() -> None:
    op.drop_table("products")
    op.drop_index("ix_stock_movements_reference", table_name="stock_movements")
    op.drop_index("ix_stock_movements_occurred_at", table_name="stock_movements")
    op.drop_index("ix_stock_movements_level", table_name="stock_movements")
    op.drop_table("stock_movements")
    op.drop_constraint(op.f("ck_stock_levels_safety_stock_not_negative"), "stock_levels", type_="check")
    op.drop_constraint(op.f("ck_stock_levels_in_transit_not_negative"), "stock_levels", type_="check")
    op.drop_column("stock_levels", "low_stock")
    op.drop_column("stock_levels", "safety_stock")
    op.drop_column("stock_levels", "in_transit")
