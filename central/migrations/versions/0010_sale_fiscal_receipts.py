"""fiscal receipt of each sale, as the store reports it after fiscalising

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sales") as batch:
        batch.add_column(sa.Column("fiscal_document", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("fiscal_receipt", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("fiscal_device", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("fiscalised_at", sa.DateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sales") as batch:
        for column in ("fiscalised_at", "fiscal_device", "fiscal_receipt", "fiscal_document"):
            batch.drop_column(column)
