"""instructions to tills, who saw them, and each store's message to the seller (SPEC S4)

Revision ID: 0018_instructions
Revises: 0017_customers
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_instructions"
down_revision = "0017_customers"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _link(name: str, other: str, column: str) -> None:
    op.create_table(
        name,
        sa.Column("instruction_id", sa.Integer(),
                  sa.ForeignKey("instructions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column(column, sa.Integer(), sa.ForeignKey(f"{other}.id"), primary_key=True),
    )


def upgrade() -> None:
    op.create_table(
        "instructions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("scroll", sa.Boolean(), nullable=False),
        sa.Column("valid_from", TZ, nullable=True),
        sa.Column("valid_until", TZ, nullable=True),
        sa.Column("cashier_id", sa.Integer(), sa.ForeignKey("cashiers.id"), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    _link("instruction_stores", "stores", "store_id")
    _link("instruction_groups", "store_groups", "group_id")
    _link("instruction_deliveries", "stores", "store_id")
    op.create_table(
        "instruction_seen",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("instruction_id", sa.Integer(),
                  sa.ForeignKey("instructions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("store_id", sa.Integer(), sa.ForeignKey("stores.id"), nullable=False),
        sa.Column("cashier", sa.String(length=32), nullable=False),
        sa.Column("seen_at", TZ, nullable=False),
        sa.UniqueConstraint("instruction_id", "store_id", "cashier"),
    )
    op.create_index("ix_instruction_seen_instruction_id", "instruction_seen",
                    ["instruction_id"])
    op.create_table(
        "seller_messages",
        sa.Column("store_id", sa.Integer(), sa.ForeignKey("stores.id"), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("seller_messages")
    op.drop_table("instruction_seen")
    op.drop_table("instruction_deliveries")
    op.drop_table("instruction_groups")
    op.drop_table("instruction_stores")
    op.drop_table("instructions")
