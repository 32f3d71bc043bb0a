"""cashiers and the stores they work at (SPEC S8)

Revision ID: 0014_cashiers
Revises: 0013_store_time_zone
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_cashiers"
down_revision = "0013_store_time_zone"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cashiers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(length=32), nullable=False, unique=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("pin_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cashier_stores",
        sa.Column("cashier_id", sa.Integer(),
                  sa.ForeignKey("cashiers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("store_id", sa.Integer(), sa.ForeignKey("stores.id"), primary_key=True),
    )
    op.create_index("ix_cashier_stores_store_id", "cashier_stores", ["store_id"])


def downgrade() -> None:
    op.drop_table("cashier_stores")
    op.drop_table("cashiers")
