"""status checks and reservations reference stock levels

Revision ID: b214b9613ae7
Revises: 1384887f7b88
Create Date: 2026-11-25 08:57:09.950686

Autogenerate found the foreign key; Alembic does not compare CHECK constraints,
so those were written by hand (names follow the metadata naming convention).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b214b9613ae7"
down_revision: str | None = "1384887f7b88"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS = (
    (
        "ck_reservations_status_known",
        "reservations",
        "status IN ('reserved', 'released', 'shipped')",
    ),
    (
        "ck_reservation_requests_outcome_known",
        "reservation_requests",
        "outcome IN ('reserved', 'failed')",
    ),
    ("ck_shipments_status_known", "shipments", "status IN ('shipped', 'delivered', 'failed')"),
)


def upgrade() -> None:
    op.create_foreign_key(
        "fk_reservations_stock_levels",
        "reservations",
        "stock_levels",
        ["sku", "warehouse"],
        ["sku", "warehouse"],
    )
    for name, table, condition in CHECKS:
        op.create_check_constraint(op.f(name), table, condition)


def downgrade() -> None:
    for name, table, _ in CHECKS:
        op.drop_constraint(op.f(name), table, type_="check")
    op.drop_constraint("fk_reservations_stock_levels", "reservations", type_="foreignkey")
