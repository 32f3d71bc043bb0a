"""money exact on SQLite: whole cents instead of floats (PostgreSQL unchanged)

SQLite keeps a NUMERIC value as a float; central's Money type (central.models) now keeps
whole cents there. This turns the amounts of an existing SQLite file (the demo's) into
cents; a float of an amount with two decimals is within a millionth of a cent of it, so
rounding gives it back exactly. PostgreSQL's NUMERIC(14, 2) is exact already: nothing to do.

Revision ID: 0015_money_cents_on_sqlite
Revises: 0014_cashiers
"""

from __future__ import annotations

from alembic import op

revision = "0015_money_cents_on_sqlite"
down_revision = "0014_cashiers"
branch_labels = None
depends_on = None

MONEY_COLUMNS = {
    "products": ("purchase_cost", "sale_price"),
    "sales": ("total",),
    "sale_lines": ("unit_price", "amount"),
    "price_entries": ("price",),
    "sale_drifts": ("store_total", "central_total"),
}


def _convert(expression: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, columns in MONEY_COLUMNS.items():
        for column in columns:
            op.execute(f"UPDATE {table} SET {column} = {expression.format(c=column)} "
                       f"WHERE {column} IS NOT NULL")


def upgrade() -> None:
    _convert("CAST(ROUND({c} * 100) AS INTEGER)")


def downgrade() -> None:
    _convert("ROUND({c} / 100.0, 2)")
