"""Figure (h): how long the console takes to render its two biggest lists.

A fresh PostgreSQL database of its own (so no other figure's rows weigh on it) gets 100k
products (``seed.big_catalogue``: COPY in the service's shape) and 200k sales spread over
20 stores, 30 cashiers and a year (COPY in the shape ``sales._record_sales`` inserts, one
line each). Then the real console app (``central.app.create_app``) is driven through
Flask's test client, signed in as an admin: every request goes through the access table,
the session, the view, the service's SQL and the Jinja template, as a browser's would;
only the HTTP server's socket is left out. Each page kind is asked for a number of times
(after a warm-up), following "next page" links deep into the list as a user would; the
p50/p95 of the whole request's time is the figure, and the share of it spent in SQL
(timed with SQLAlchemy's cursor events) says what limits it.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import statistics
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from bench import seed
from central import migrate
from central.app import create_app
from central.db import Database
from central.roles import ADMIN
from central.services import auth, catalog
from tests.support import create_database, drop_database

STORES = 20
CASHIERS = 30
PASSWORD = "bench console password"
NEXT = re.compile(r'<a href="([^"]+)" rel="next">')


def _seed_sales(db: Database, pg_url: str, count: int) -> dict[str, Any]:
    """``count`` sales (one line each) over ``STORES`` stores, in bulk."""
    started = time.monotonic()
    seed.create_stores(db, [f"c{n:02d}" for n in range(STORES)])
    rng = random.Random(13)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(pg_url) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM stores ORDER BY code")]
        sales = []
        for n in range(count):
            store = ids[n % STORES]
            total = Decimal(rng.randint(50, 50_000)) / 100
            sold_at = start + dt.timedelta(seconds=n * 150 + rng.randint(0, 120))
            line = {"sku": seed.sku(n % 1000), "barcode": None, "name": f"Bench product {n}",
                    "qty": "1", "unit_price": str(total), "amount": str(total),
                    "vat_rate": "20"}
            body = {"uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "store": f"c{n % STORES:02d}", "number": n // STORES + 1, "till": "T1",
                    "cashier": f"k{n % CASHIERS:02d}", "created_at": sold_at.isoformat(),
                    "total": str(total), "lines": [line]}
            sales.append((body["uuid"], store, "bench", n // STORES + 1, n // STORES + 1,
                          "T1", body["cashier"], sold_at, now, total,
                          json.dumps(body, separators=(",", ":")), False))
        with conn.cursor().copy(
                "COPY sales (uuid, store_id, store_epoch, seq, number, till, cashier, sold_at, "
                "received_at, total, body, repriced) FROM STDIN") as copy:
            for row in sales:
                copy.write_row(row)
        conn.execute(
            "INSERT INTO sale_lines (sale_id, line_no, sku, name, qty, unit_price, amount, "
            "vat_rate) SELECT id, 1, 'B0000001', 'Bench product', 1, total, total, 20 "
            "FROM sales")
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
    return {"sales": count, "stores": STORES, "seconds": round(time.monotonic() - started, 1)}


def _signed_in(app: Flask, db: Database) -> FlaskClient:
    with db.transaction() as session:
        auth.create_user(session, "bench", [ADMIN], PASSWORD, dt.datetime.now(dt.UTC))
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the sign-in page"
    response = client.post("/login", data={"username": "bench", "password": PASSWORD,
                                           "csrf_token": match.group(1)})
    if response.status_code != 303:
        raise RuntimeError(f"the bench could not sign in: {response.status_code}")
    return client


class SqlClock:
    """Seconds spent in SQL statements (cursor execute), from SQLAlchemy's events."""

    def __init__(self, db: Database) -> None:
        self.total = 0.0
        self._started: list[float] = []
        event.listen(db.engine, "before_cursor_execute", self._before)
        event.listen(db.engine, "after_cursor_execute", self._after)

    def _before(self, *_args: object) -> None:
        self._started.append(time.perf_counter())

    def _after(self, *_args: object) -> None:
        self.total += time.perf_counter() - self._started.pop()


def _urls(client: FlaskClient, first: str, pages: int) -> Iterator[str]:
    """``first`` and the "next page" links after it, ``pages`` in all (as a user pages)."""
    url: str | None = first
    for _ in range(pages):
        if url is None:
            return
        yield url
        body = client.get(url).get_data(as_text=True)
        found = NEXT.search(body)
        url = found.group(1).replace("&amp;", "&") if found else None


def _measure(client: FlaskClient, sql: SqlClock, urls: list[str], rounds: int
             ) -> dict[str, Any]:
    for url in urls[:3]:  # warm-up: templates compiled, connections in the pool
        client.get(url)
    times, sql_times = [], []
    for _ in range(rounds):
        for url in urls:
            before_sql = sql.total
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
            times.append(elapsed * 1000)
            sql_times.append((sql.total - before_sql) * 1000)
    ordered = sorted(times)
    return {"requests": len(times), "urls": len(urls),
            "p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 1),
            "max_ms": round(ordered[-1], 1),
            "sql_share": round(sum(sql_times) / sum(times), 2) if sum(times) else None}


def run(products: int, sales: int, rounds: int = 3) -> dict[str, Any]:
    url = create_database("tessera_bench_console")
    db = Database(url, pool_size=4)
    try:
        migrate.upgrade(db)
        with db.transaction() as session:
            catalog.create_category(session, seed.BENCH_CATEGORY, "Bench")
        pg_url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        seeded_products = seed.big_catalogue(db, pg_url, 0, products)
        seeded_sales = _seed_sales(db, pg_url, sales)
        app = create_app({"DATABASE": db, "SECRET_KEY": "bench-console"})
        client = _signed_in(app, db)
        sql = SqlClock(db)
        product_urls = [*_urls(client, "/products", 10),
                        *_urls(client, "/products?sort=-name", 5),
                        *_urls(client, "/products?q=Bench+product+99", 3),
                        "/products?q=B00500", f"/products?q={seed.ean13(4242)}",
                        "/products?active=false"]
        sale_urls = [*_urls(client, "/sales", 10),
                     *_urls(client, "/sales?store=c07", 5),
                     *_urls(client, "/sales?cashier=k03&min_total=100", 5),
                     "/sales?min_total=499.90", "/sales?since=2025-03-01&until=2025-03-31",
                     "/sales?store=c11&cashier=k11&max_total=20"]
        return {"products": products, "sales": sales, "seeding": [seeded_products,
                                                                  seeded_sales],
                "product_list": _measure(client, sql, product_urls, rounds),
                "sales_list": _measure(client, sql, sale_urls, rounds)}
    finally:
        db.dispose()
        drop_database(url)


def explain(figure: dict[str, Any]) -> str:
    share = figure.get("sql_share")
    sql = f"{share:.0%} of it in SQL" if share is not None else "SQL share not measured"
    return (f"{figure['requests']} requests over {figure['urls']} URLs (first pages, deep "
            f"pages by their next links, searches, filters); p50 {figure['p50_ms']} ms, "
            f"max {figure['max_ms']} ms; {sql}, the rest Flask, session, access check and "
            "the Jinja template; the HTTP server's socket is not included")
