"""a head-office user's console language (issue 13): en, it, fr or ro; null: the browser's

Revision ID: 0023_user_language
Revises: 0022_store_printer_state
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_user_language"
down_revision = "0022_store_printer_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
