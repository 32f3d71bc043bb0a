"""fleet liveness columns and the entry id at each ingest cursor

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("store_status") as batch_op:
        batch_op.add_column(sa.Column("outbox_head", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("protocol_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("log_epoch", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("ingest_cursors") as batch_op:
        batch_op.add_column(sa.Column("last_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ingest_cursors") as batch_op:
        batch_op.drop_column("last_id")
    with op.batch_alter_table("store_status") as batch_op:
        batch_op.drop_column("changed_at")
        batch_op.drop_column("log_epoch")
        batch_op.drop_column("protocol_version")
        batch_op.drop_column("outbox_head")
