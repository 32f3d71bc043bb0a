"""the unit a product is sold in (piece or a measure); existing products are pieces

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("unit", sa.String(length=8), nullable=False,
                                   server_default="piece"))


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.drop_column("unit")
