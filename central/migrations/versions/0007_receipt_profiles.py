"""receipt profiles: header, footer, logo and e-mail receipts, chain-wide and per store

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receipt_profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("header", sa.Text(), nullable=True),
        sa.Column("footer", sa.Text(), nullable=True),
        sa.Column("logo_png", sa.LargeBinary(), nullable=True),
        sa.Column("email_policy", sa.String(length=16), nullable=True),
        sa.Column("email_sender", sa.String(length=255), nullable=True),
        sa.Column("email_subject", sa.String(length=255), nullable=True),
        sa.Column("email_body", sa.Text(), nullable=True),
        sa.Column("email_document_types", sa.String(length=100), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope"),
        sa.UniqueConstraint("store_id"),
    )


def downgrade() -> None:
    op.drop_table("receipt_profiles")
