"""every store has an IANA time zone (store-config); existing stores get Europe/Rome

Revision ID: 0013_store_time_zone
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_store_time_zone"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stores") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(length=64), nullable=False,
                                   server_default="Europe/Rome"))


def downgrade() -> None:
    with op.batch_alter_table("stores") as batch:
        batch.drop_column("time_zone")
