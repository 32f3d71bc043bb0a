"""display content of a store or group (SPEC S6)

Revision ID: 0021_display_content
Revises: 0020_surveys
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_display_content"
down_revision = "0020_surveys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "display_contents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("scope", "code"),
    )


def downgrade() -> None:
    op.drop_table("display_contents")
