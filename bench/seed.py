"""Data for the bench at central: small things through the services, big ones in bulk.

Stores, the fleet's catalogue and the price changes of the fan-out go through the service
layer, exactly as the API writes them. The 100k-product catalogue and the 50k offline
changes would take minutes that way (one ORM round trip and change-log bump per product),
so they are written with COPY in the very shape the service gives them: a template
change is made by ``catalog.create_product`` / ``update_product`` and only its sku, name,
price and barcode vary. A sample through the service layer measures its own rate.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from typing import Any

import psycopg
from sqlalchemy import select

from central.db import Database
from central.models import Category, Change
from central.services import catalog, prices, stores
from protocol.checksum import combine, entry_hash
from protocol.streams import CATALOG
from rules.barcodes import ean_check_digit

BENCH_CATEGORY = "bench"


def ean13(n: int) -> str:
    body = f"29{n:010d}"
    return body + str(ean_check_digit(body))


def sku(n: int) -> str:
    return f"B{n:07d}"


def fleet_catalogue(db: Database, products: int) -> list[str]:
    """A small catalogue through the service layer; returns the SKUs."""
    skus = []
    with db.transaction() as session:
        catalog.create_category(session, BENCH_CATEGORY, "Bench")
        for n in range(products):
            catalog.create_product(session, {
                "sku": sku(n), "name": f"Bench product {n}", "category": BENCH_CATEGORY,
                "vat_rate": Decimal("20"), "sale_price": Decimal("1.00") + n,
                "barcodes": [ean13(n)]})
            skus.append(sku(n))
    return skus


def create_stores(db: Database, codes: list[str]) -> None:
    with db.transaction() as session:
        for code in codes:
            stores.create_store(session, code, f"Bench store {code}")


def change_price(db: Database, product: str, price: Decimal) -> float:
    """A price for every store from now on (the service layer); returns the commit time."""
    with db.transaction() as session:
        prices.set_price(session, product, price, "all")
    return time.time()


def _template(db: Database, n: int) -> dict[str, Any]:
    """The change data the service writes for one product, made by the service itself."""
    with db.transaction() as session:
        # `--only bootstrap,catchup,agent` runs no fleet, whose catalogue made the category.
        if session.scalar(select(Category.id).where(Category.code == BENCH_CATEGORY)) is None:
            catalog.create_category(session, BENCH_CATEGORY, "Bench")
        catalog.create_product(session, {
            "sku": sku(n), "name": f"Bench product {n}", "category": BENCH_CATEGORY,
            "vat_rate": Decimal("20"), "sale_price": Decimal("2.50"), "barcodes": [ean13(n)]})
    with db.sessions() as session:
        change = session.scalars(select(Change).where(Change.stream == CATALOG,
                                                      Change.key == sku(n))
                                 .order_by(Change.version.desc()).limit(1)).one()
        data: dict[str, Any] = json.loads(change.data or "{}")
    return data


def _copy(conn: psycopg.Connection[Any], table: str, columns: str, rows: list[tuple[Any, ...]]
          ) -> None:
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def big_catalogue(db: Database, pg_url: str, first: int, count: int) -> dict[str, Any]:
    """``count`` products (one barcode each) and their ``catalog`` changes, in bulk."""
    template = _template(db, first)
    now = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    with psycopg.connect(pg_url) as conn:
        category = conn.execute("SELECT id FROM categories WHERE code = %s",
                                (BENCH_CATEGORY,)).fetchone()[0]  # type: ignore[index]
        head, checksum = conn.execute(
            "SELECT version, checksum FROM stream_heads WHERE stream = %s FOR UPDATE",
            (CATALOG,)).fetchone()  # type: ignore[misc]
        numbers = range(first + 1, first + count)
        _copy(conn, "products", "sku, name, category_id, vat_rate, sale_price, active, "
              "created_at, updated_at",
              [(sku(n), f"Bench product {n}", category, "20", "2.50", True, now, now)
               for n in numbers])
        ids = dict(conn.execute("SELECT sku, id FROM products WHERE sku >= %s",
                                (sku(first + 1),)).fetchall())
        _copy(conn, "barcodes", "code, product_id, kind",
              [(ean13(n), ids[sku(n)], "ean13") for n in numbers])
        changes = []
        for i, n in enumerate(numbers, start=1):
            data = dict(template, sku=sku(n), name=f"Bench product {n}", barcodes=[ean13(n)])
            changes.append((CATALOG, head + i, "product", sku(n), "upsert",
                            json.dumps(data, separators=(",", ":"), sort_keys=True), now))
        _copy(conn, "changes", "stream, version, entity, key, op, data, created_at", changes)
        # New keys: their hashes go into the stream checksum, as changelog.record would do.
        checksum = combine(checksum, *(entry_hash("product", key, text=text)
                                       for _s, _v, _e, key, _o, text, _t in changes))
        conn.execute("UPDATE stream_heads SET version = %s, checksum = %s WHERE stream = %s",
                     (head + len(changes), checksum, CATALOG))
    return {"products": count, "seconds": round(time.monotonic() - started, 1),
            "via": "COPY in the shape of catalog.product_wire (template made by the service)"}


def service_price_changes(db: Database, skus: list[str]) -> dict[str, Any]:
    """Re-price ``skus`` through ``prices.bulk_adjust`` (the API's bulk path); timed."""
    started = time.monotonic()
    with db.transaction() as session:
        report = prices.bulk_adjust(session, "sale_price", "amount", Decimal("0.01"),
                                    skus=skus, apply=True)
    seconds = time.monotonic() - started
    return {"changes": len(report.changes), "seconds": round(seconds, 2),
            "per_s": round(len(report.changes) / seconds, 1)}


def bulk_price_changes(pg_url: str, first: int, count: int) -> int:
    """``count`` sale-price changes of the products from ``first`` on, as update_product
    logs them (new price in the product and one ``catalog`` change each); returns how many."""
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(pg_url) as conn:
        head, checksum = conn.execute(
            "SELECT version, checksum FROM stream_heads WHERE stream = %s FOR UPDATE",
            (CATALOG,)).fetchone()  # type: ignore[misc]
        rows = conn.execute(
            "SELECT DISTINCT ON (key) key, data FROM changes WHERE stream = %s AND key >= %s "
            "AND key < %s ORDER BY key, version DESC", (CATALOG, sku(first), sku(first + count))
        ).fetchall()
        changes = []
        toggles = []
        for i, (key, text) in enumerate(rows, start=1):
            data = json.loads(text)
            data["sale_price"] = str(Decimal(data["sale_price"]) + Decimal("0.10"))
            new_text = json.dumps(data, separators=(",", ":"), sort_keys=True)
            changes.append((CATALOG, head + i, "product", key, "upsert", new_text, now))
            toggles += [entry_hash("product", key, text=text),
                        entry_hash("product", key, text=new_text)]
        conn.execute("UPDATE products SET sale_price = sale_price + 0.10, updated_at = %s "
                     "WHERE sku >= %s AND sku < %s", (now, sku(first), sku(first + count)))
        _copy(conn, "changes", "stream, version, entity, key, op, data, created_at", changes)
        conn.execute("UPDATE stream_heads SET version = %s, checksum = %s WHERE stream = %s",
                     (head + len(changes), combine(checksum, *toggles), CATALOG))
    return len(changes)
