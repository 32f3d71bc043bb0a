"""the customer registry: customers, their edits, cards, redirects, merges, sales, extra
questions, settings and alerts

Revision ID: 0017_customers
Revises: 0016_loyalty
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_customers"
down_revision = "0016_loyalty"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_alerts",
        sa.Column("code", sa.String(length=40), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "customer_cards",
        sa.Column("number", sa.String(length=64), primary_key=True),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_customer_cards_customer_id", "customer_cards", ["customer_id"])
    op.create_table(
        "customer_edits",
        sa.Column("edit_id", sa.String(length=36), primary_key=True),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("addressed_to", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("add_cards", sa.Text(), nullable=False),
        sa.Column("retire_cards", sa.Text(), nullable=False),
        sa.Column("redacted", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=80), nullable=True),
        sa.Column("store_epoch", sa.String(length=64), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_customer_edits_customer_id", "customer_edits", ["customer_id"])
    op.create_table(
        "customer_fields",
        sa.Column("code", sa.String(length=40), primary_key=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("choices", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "customer_merges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("survivor", sa.String(length=36), nullable=False),
        sa.Column("merged", sa.String(length=36), nullable=False),
        sa.Column("by", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_customer_merges_survivor", "customer_merges", ["survivor"])
    op.create_table(
        "customer_redirects",
        sa.Column("old", sa.String(length=36), primary_key=True),
        sa.Column("survivor", sa.String(length=36), nullable=False),
    )
    op.create_index("ix_customer_redirects_survivor", "customer_redirects", ["survivor"])
    op.create_table(
        "customer_sales",
        sa.Column("sale_uuid", sa.String(length=36), primary_key=True),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total", sa.Numeric(14, 2), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
    )
    op.create_index("ix_customer_sales_customer_id", "customer_sales", ["customer_id"])
    op.create_table(
        "customer_settings",
        sa.Column("key", sa.String(length=40), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("first_name", sa.String(length=80), nullable=True),
        sa.Column("last_name", sa.String(length=80), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("mobile", sa.String(length=40), nullable=True),
        sa.Column("postcode", sa.String(length=16), nullable=True),
        sa.Column("city", sa.String(length=80), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("gender", sa.String(length=16), nullable=True),
        sa.Column("home_store", sa.String(length=40), nullable=True),
        sa.Column("consent_email", sa.Boolean(), nullable=True),
        sa.Column("consent_sms", sa.Boolean(), nullable=True),
        sa.Column("search_key", sa.String(length=400), nullable=False),
        sa.Column("profile", sa.String(length=40), nullable=True),
        sa.Column("external_id", sa.String(length=80), nullable=True, unique=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("total_spend", sa.Numeric(14, 2), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("returns", sa.Integer(), nullable=False),
        sa.Column("first_purchase", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_purchase", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_stamp", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_customers_search_key", "customers", ["search_key"])
    op.create_index("ix_customers_home_store", "customers", ["home_store"])
    op.create_index("ix_customers_mobile", "customers", ["mobile"])
    op.create_index("ix_customers_email", "customers", ["email"])


def downgrade() -> None:
    op.drop_table("customers")
    op.drop_table("customer_settings")
    op.drop_table("customer_sales")
    op.drop_table("customer_redirects")
    op.drop_table("customer_merges")
    op.drop_table("customer_fields")
    op.drop_table("customer_edits")
    op.drop_table("customer_cards")
    op.drop_table("customer_alerts")
