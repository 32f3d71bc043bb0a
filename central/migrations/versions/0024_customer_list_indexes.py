"""the multi-criteria customer list's columns in one narrow index (issue 15: a count over a
million customers in a second)

Revision ID: 0024_customer_list_indexes
Revises: 0023_user_language

A list's count filters on the record's plain columns (store, city, postcode, consents,
spend, visits, purchases, birth date, contact presence); on the table itself it reads every
row's wire data too (some 2 kB a customer). This partial index of the live customers holds
those columns and the id (for the cards' EXISTS), so PostgreSQL counts from it with an
index-only scan. PostgreSQL only (INCLUDE): on SQLite, central's test database, nothing.
"""

from alembic import op

revision = "0024_customer_list_indexes"
down_revision = "0023_user_language"
branch_labels = None
depends_on = None

LIST_COLUMNS = ("id", "city", "postcode", "country", "gender", "birth_date", "consent_email",
                "consent_sms", "total_spend", "visits", "first_purchase", "last_purchase",
                "mobile", "email")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE INDEX ix_customers_list ON customers (home_store) "
               f"INCLUDE ({', '.join(LIST_COLUMNS)}) WHERE erased_at IS NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_customers_list")
