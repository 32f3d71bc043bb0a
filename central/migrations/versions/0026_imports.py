"""imports in the background (issue 15, K6): each file's progress and its rejected rows;
a partial index of the partner programmes' ranges (read by each batch of a member list)

Revision ID: 0026_imports
Revises: 0025_loyalty_at_ingest
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_imports"
down_revision = "0025_loyalty_at_ingest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("programme", sa.String(40), nullable=True),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("check_only", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("columns", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("bytes_read", sa.BigInteger(), nullable=False),
        sa.Column("bytes_total", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("author", sa.String(80), nullable=True),
        sa.Column("runner", sa.String(80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "import_rejections",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("line", sa.Integer(), primary_key=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("cells", sa.Text(), nullable=False),
    )
    op.create_index("ix_partner_cards_ranges", "partner_cards", ["programme_id"],
                    postgresql_where=sa.text("first <> last"),
                    sqlite_where=sa.text("first <> last"))


def downgrade() -> None:
    op.drop_index("ix_partner_cards_ranges", table_name="partner_cards")
    op.drop_table("import_rejections")
    op.drop_table("import_jobs")
