"""Money at central is exact on both databases (issue 10): SQLite keeps whole cents, never
a float; what the services compare, sort and sum in SQL gives the same on both."""

from __future__ import annotations

import io
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from openpyxl import Workbook
from sqlalchemy import func, select

from central import migrate
from central.db import Database
from central.models import Money, Product
from central.services import prices
from central.tabular import read_table

pytestmark = pytest.mark.integration

AMOUNTS = ["0.10", "0.20", "0.70", "999999999999.99", "1.05", "19.99"]


def add_products(db: Database) -> None:
    with db.transaction() as session:
        for i, amount in enumerate(AMOUNTS):
            session.add(Product(sku=f"SKU-{i}", name=f"P{i}", category_id=None,
                                vat_rate=Decimal("9.00"), sale_price=Decimal(amount),
                                purchase_cost=None))


def test_amounts_round_trip_compare_sort_and_sum_exactly(central_db: Database) -> None:
    add_products(central_db)
    with central_db.sessions() as session:
        prices = session.scalars(select(Product.sale_price).order_by(Product.sale_price)).all()
        assert [str(p) for p in prices] == sorted(AMOUNTS, key=Decimal)
        total = session.scalar(select(func.sum(Product.sale_price))
                               .where(Product.sale_price < Decimal("1.00")))
        assert total == Decimal("1.00") and str(total) == "1.00"
        assert session.scalar(select(func.max(Product.sale_price))) == Decimal(
            "999999999999.99")
        assert session.scalar(select(func.count()).select_from(Product)
                              .where(Product.sale_price == Decimal("1.05"))) == 1


def test_sqlite_keeps_whole_cents(sqlite_db: Database) -> None:
    add_products(sqlite_db)
    with sqlite_db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT typeof(sale_price), sale_price FROM products "
                                      "ORDER BY id").all()
    assert stored[:4] == [("integer", 10), ("integer", 20), ("integer", 70),
                          ("integer", 99999999999999)]


def test_money_refuses_floats() -> None:
    from sqlalchemy.dialects import sqlite

    with pytest.raises(TypeError, match="float"):
        Money().process_bind_param(1.5, sqlite.dialect())


def test_an_older_sqlite_file_gets_its_floats_as_cents(tmp_path: Path) -> None:
    path = tmp_path / "central.db"
    db = Database(f"sqlite:///{path}")
    command.upgrade(migrate.alembic_config(db.url), "0013_store_time_zone")
    with sqlite3.connect(path) as conn:  # what the demo wrote before: floats
        conn.execute("INSERT INTO products (sku, name, vat_rate, sale_price, purchase_cost, "
                     "active, unit, created_at, updated_at) VALUES "
                     "('A', 'A', 9, 1.1, 0.7, 1, 'piece', '2026-01-01', '2026-01-01'), "
                     "('B', 'B', 9, 999999999999.99, NULL, 1, 'piece', '2026-01-01', "
                     "'2026-01-01')")
    conn.close()
    migrate.upgrade(db)
    with db.sessions() as session:
        rows = session.execute(select(Product.sku, Product.sale_price, Product.purchase_cost)
                               .order_by(Product.sku)).all()
    db.dispose()
    assert [tuple(r) for r in rows] == [("A", Decimal("1.10"), Decimal("0.70")),
                                        ("B", Decimal("999999999999.99"), None)]


def test_xlsx_numeric_cells_are_read_by_their_decimal_repr_and_never_rounded(
        central_db: Database) -> None:
    """A spreadsheet number is a float: 2.1 is read as the 2.1 typed (its shortest repr);
    2.675 (a float just below it, which round() makes 2.67) or 1e20 is refused, never
    rounded to a price."""
    add_products(central_db)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["sku", "sale_price"], ["SKU-0", 2.1], ["SKU-1", 2.675], ["SKU-2", 1e20],
                ["SKU-3", 7]):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    rows = read_table(buffer.getvalue(), "prices.xlsx")
    with central_db.transaction() as session:
        report = prices.import_prices(session, rows, apply=True)
    reasons = {r["sku"]: r["reason"] for r in report.rejected}
    assert set(reasons) == {"SKU-1", "SKU-2"}
    assert "more than two decimals" in reasons["SKU-1"]
    assert "limit" in reasons["SKU-2"]
    with central_db.sessions() as session:
        got = dict(session.execute(select(Product.sku, Product.sale_price)).all())
    assert (got["SKU-0"], got["SKU-3"]) == (Decimal("2.10"), Decimal("7.00"))
