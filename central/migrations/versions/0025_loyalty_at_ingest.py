"""loyalty at ingest (issue 16): points drift of ingested sales, and the points a merge moved

Revision ID: 0025_loyalty_at_ingest
Revises: 0024_customer_list_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_loyalty_at_ingest"
down_revision = "0024_customer_list_indexes"
branch_labels = None
depends_on = None

POINTS = sa.Numeric(14, 2)


def upgrade() -> None:
    op.create_table(
        "points_drifts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sale_uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("profile_code", sa.String(32), nullable=True),
        sa.Column("profile_version", sa.Integer, nullable=True),
        sa.Column("store_points", POINTS, nullable=True),
        sa.Column("central_points", POINTS, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("sold_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_points_drifts_store", "points_drifts", ["store"])
    op.create_index("ix_points_drifts_customer_id", "points_drifts", ["customer_id"])
    with op.batch_alter_table("customer_merges") as batch:
        batch.add_column(sa.Column("points_moved", POINTS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer_merges") as batch:
        batch.drop_column("points_moved")
    op.drop_table("points_drifts")
