"""log compaction: how far each stream's change log was compacted

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stream_heads") as batch:
        batch.add_column(sa.Column("compacted_to", sa.BigInteger(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("stream_heads") as batch:
        batch.drop_column("compacted_to")
