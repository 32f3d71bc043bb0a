"""the store's fiscal printer state, as its birth reports it (issue 13)

Revision ID: 0022_store_printer_state
Revises: 0021_display_content
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_store_printer_state"
down_revision = "0021_display_content"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("store_status") as batch:
        batch.add_column(sa.Column("printer_state", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("printer_message", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("store_status") as batch:
        batch.drop_column("printer_message")
        batch.drop_column("printer_state")
