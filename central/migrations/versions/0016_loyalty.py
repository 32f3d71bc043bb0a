"""loyalty: profiles and their versions, levels, gifts, points values, the points ledger;
products gain purchase discounts and a fixed points value

Revision ID: 0016_loyalty
Revises: 0015_money_cents_on_sqlite
"""

import sqlalchemy as sa
from alembic import op


revision = "0016_loyalty"
down_revision = "0015_money_cents_on_sqlite"
branch_labels = None
depends_on = None

POINTS = sa.Numeric(14, 2)


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("purchase_discounts", sa.String(64), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("fixed_points", POINTS, nullable=True))
    op.create_table(
        "loyalty_profiles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("card_prefix", sa.String(12), nullable=False, unique=True),
        sa.Column("alternative_prefixes", sa.String(200), nullable=False),
        sa.Column("ean_prefix", sa.String(12)),
        sa.Column("discount_percent", sa.Numeric(5, 2), nullable=False),
        sa.Column("accrual", sa.Text, nullable=False),
        sa.Column("redemption", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "loyalty_profile_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("profile_code", sa.String(32), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("profile_code", "version"),
    )
    op.create_table(
        "loyalty_levels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("points", POINTS, nullable=False, unique=True),
    )
    op.create_table(
        "loyalty_gifts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sku", sa.String(64), sa.ForeignKey("products.sku"), nullable=False,
                  unique=True),
        sa.Column("level_id", sa.Integer, sa.ForeignKey("loyalty_levels.id"), nullable=False,
                  index=True),
        sa.Column("points", POINTS),
    )
    op.create_table(
        "loyalty_points_values",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("profile_code", sa.String(32), nullable=False, index=True),
        sa.Column("sku", sa.String(64), nullable=False, index=True),
        sa.Column("points", POINTS, nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("cost", sa.Numeric(18, 6)),
        sa.Column("markup", sa.Numeric(18, 4)),
        sa.Column("ratio", POINTS),
        sa.Column("profile_version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("profile_code", "sku"),
    )
    op.create_table(
        "points_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.String(36), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("document", sa.String(64), nullable=False, index=True),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("of_kind", sa.String(16), nullable=False),
        sa.Column("points", POINTS, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("store", sa.String(64)),
        sa.Column("profile_version", sa.Integer),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("refers_kind", sa.String(16)),
        sa.Column("refers_document", sa.String(64)),
        sa.Column("refers_line", sa.Integer),
        sa.Column("author", sa.String(64)),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("customer_id", "kind", "document", "line", "of_kind",
                            name="uq_points_entries_natural_key"),
    )
    op.create_table(
        "points_balances",
        sa.Column("customer_id", sa.String(36), primary_key=True),
        sa.Column("points", POINTS, nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("points_balances", "points_entries", "loyalty_points_values",
                  "loyalty_gifts", "loyalty_levels", "loyalty_profile_versions",
                  "loyalty_profiles"):
        op.drop_table(table)
    with op.batch_alter_table("products") as batch:
        batch.drop_column("fixed_points")
        batch.drop_column("purchase_discounts")
