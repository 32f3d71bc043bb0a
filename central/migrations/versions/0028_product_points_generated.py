"""the points a product generates (SPEC L2, seeds/002 "Punti generati"): one unit of the
product earns them under a profile whose accrual takes points from the products

Revision ID: 0028_product_points_generated
Revises: 0027_customer_list_recency
"""

import sqlalchemy as sa
from alembic import op

revision = "0028_product_points_generated"
down_revision = "0027_customer_list_recency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("points_generated", sa.Numeric(14, 2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.drop_column("points_generated")
