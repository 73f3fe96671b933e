"""transfers between warehouses, goods receipts, return restocks

Revision ID: 768c0bef8e61
Revises: d5b8e1f0a9c7
Create Date: 2026-12-02 10:00:00

Written by hand. New tables only: transfers and their lines (draft → dispatched
→ received, or cancelled; the counts of a line are set together when it
arrives, and never exceed what was dispatched); goods_receipts, unique per
(purchase order, delivery note) so a retried receipt receives nothing twice;
return_restocks, one row per return so a redelivered RestockReturn moves
nothing twice. Downgrade drops them: the ledger keeps every movement they
caused (their reference is the transfer id, purchase order or return id), but
a transfer still in transit can then no longer be received.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "768c0bef8e61"
down_revision: str | None = "d5b8e1f0a9c7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transfers",
        sa.Column("transfer_id", sa.UUID(), nullable=False),
        sa.Column("from_warehouse", sa.String(length=64), nullable=False),
        sa.Column("to_warehouse", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_by", sa.String(length=200), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_by", sa.String(length=200), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=200), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'dispatched', 'received', 'cancelled')",
            name=op.f("ck_transfers_status_known"),
        ),
        sa.CheckConstraint(
            "from_warehouse <> to_warehouse", name=op.f("ck_transfers_warehouses_differ")
        ),
        sa.ForeignKeyConstraint(
            ["from_warehouse"],
            ["warehouses.code"],
            name=op.f("fk_transfers_from_warehouse_warehouses"),
        ),
        sa.ForeignKeyConstraint(
            ["to_warehouse"], ["warehouses.code"], name=op.f("fk_transfers_to_warehouse_warehouses")
        ),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_transfers")),
    )
    op.create_index("ix_transfers_created_at", "transfers", ["created_at", "transfer_id"])
    op.create_table(
        "transfer_lines",
        sa.Column("transfer_id", sa.UUID(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=True),
        sa.Column("damaged", sa.Integer(), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_transfer_lines_quantity_positive")),
        sa.CheckConstraint(
            "received IS NULL OR received >= 0", name=op.f("ck_transfer_lines_received_not_negative")
        ),
        sa.CheckConstraint(
            "damaged IS NULL OR damaged >= 0", name=op.f("ck_transfer_lines_damaged_not_negative")
        ),
        sa.CheckConstraint(
            "(received IS NULL) = (damaged IS NULL)", name=op.f("ck_transfer_lines_counted_together")
        ),
        sa.CheckConstraint(
            "received IS NULL OR received + damaged <= quantity",
            name=op.f("ck_transfer_lines_counts_within_quantity"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfers.transfer_id"],
            name=op.f("fk_transfer_lines_transfer_id_transfers"),
        ),
        sa.PrimaryKeyConstraint("transfer_id", "sku", name="pk_transfer_lines"),
    )
    op.create_table(
        "goods_receipts",
        sa.Column("goods_receipt_id", sa.UUID(), nullable=False),
        sa.Column("purchase_order", sa.String(length=64), nullable=False),
        sa.Column("receipt_id", sa.String(length=100), nullable=False),
        sa.Column("warehouse", sa.String(length=64), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "new_products",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("received_by", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["warehouse"], ["warehouses.code"], name=op.f("fk_goods_receipts_warehouse_warehouses")
        ),
        sa.PrimaryKeyConstraint("goods_receipt_id", name=op.f("pk_goods_receipts")),
        sa.UniqueConstraint(
            "purchase_order", "receipt_id", name="uq_goods_receipts_purchase_order"
        ),
    )
    op.create_table(
        "return_restocks",
        sa.Column("return_id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("warehouse", sa.String(length=64), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("restocked_by", sa.String(length=200), nullable=False),
        sa.Column("restocked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["warehouse"], ["warehouses.code"], name=op.f("fk_return_restocks_warehouse_warehouses")
        ),
        sa.PrimaryKeyConstraint("return_id", name=op.f("pk_return_restocks")),
    )


def downgrade() -> None:
    op.drop_table("return_restocks")
    op.drop_table("goods_receipts")
    op.drop_table("transfer_lines")
    op.drop_index("ix_transfers_created_at", table_name="transfers")
    op.drop_table("transfers")
