"""store requests over MQTT and their replies (a repeated request id is answered once)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("store_id", sa.Integer(), sa.ForeignKey("stores.id"), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("store_id", "request_id"),
    )
    op.create_index("ix_store_requests_received_at", "store_requests", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_store_requests_received_at", "store_requests")
    op.drop_table("store_requests")
