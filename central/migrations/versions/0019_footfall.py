"""footfall counter readings (SPEC S7)

Revision ID: 0019_footfall
Revises: 0018_instructions
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_footfall"
down_revision = "0018_instructions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "footfall_readings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("store_id", sa.Integer(), sa.ForeignKey("stores.id"), nullable=False),
        sa.Column("counter", sa.String(length=64), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("visits_in", sa.Integer(), nullable=False),
        sa.Column("visits_out", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("store_id", "counter", "start"),
    )


def downgrade() -> None:
    op.drop_table("footfall_readings")
