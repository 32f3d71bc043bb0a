"""Central's figure of issue 15: the multi-criteria list counts 1M customers, five criteria.

A fresh PostgreSQL database of its own gets ``count`` customers with one loyalty card each,
written with COPY in the very shape the service writes them: a template customer is made by
``customers.create`` (with its card), its rows are read back, and each copy varies what a
registry varies (names, mobile, e-mail, city, home store, birth date, consents, spend,
visits, purchases), in the columns and in the wire ``data`` alike. Then the count runs as
``POST /api/v1/customer-lists/count`` runs it: ``customer_queries.read_criteria`` (the rows
into a rules.conditions tree), the SQL translator and ``customer_queries.count``, a few
times after a warm-up. Target (issue 15): ≤ 1 s.

``python -m bench.customer_lists --count 1000000`` runs it alone; ``make bench`` includes it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
import uuid
from decimal import Decimal
from typing import Any

import psycopg

from central import migrate
from central.db import Database
from central.services import customer_queries, customers
from rules.cards import loyalty_card_number
from rules.customers.contact import search_key
from tests.support import create_database, drop_database

TARGET_S = 1.0
CRITERIA = {"match": "all", "criteria": [
    {"field": "city", "operator": "equals", "value": "Milano"},
    {"field": "has_card", "operator": "is_true"},
    {"field": "total_spend", "operator": "at_least", "value": "100"},
    {"field": "last_purchase", "operator": "after", "value": "6 months ago"},
    {"field": "consent_email", "operator": "is_true"},
]}
"""A marketing list: Milan customers with a card, who spent 100 or more, bought in the last
six months and said yes to e-mail."""
CITIES = ("Milano", "Roma", "Torino", "Napoli", "Bologna", "Firenze", "Genova", "Bari")
STORES = tuple(f"s{n:02d}" for n in range(20))
FIRST = ("Maria", "Ion", "Giulia", "Ștefan", "Jürgen", "Ana", "Luca", "Élodie", "Marco")
LAST = ("Rossi", "Popescu", "Müller", "D'Amico", "Ionescu", "Bianchi", "Ferrari", "Stan")


def _template(db: Database) -> tuple[dict[str, Any], dict[str, Any]]:
    """A customer and its card as the service writes them (column -> value)."""
    with db.transaction() as session:
        made = customers.create(session, {
            "first_name": "Maria", "last_name": "Rossi", "mobile": "+393470000000",
            "email": "maria@example.com", "city": "Milano", "home_store": "s00",
            "birth_date": "1980-01-01", "consent_email": True,
            "cards": [{"number": loyalty_card_number("299", 1), "kind": "loyalty"}]})
        customer_id = made.id
    with psycopg.connect(db.url.replace("+psycopg", "")) as conn:
        cur = conn.execute("SELECT * FROM customers WHERE id = %s", (customer_id,))
        names = [c.name for c in cur.description or ()]
        customer = dict(zip(names, cur.fetchone() or (), strict=True))
        cur = conn.execute("SELECT * FROM customer_cards WHERE customer_id = %s",
                           (customer_id,))
        names = [c.name for c in cur.description or ()]
        card = dict(zip(names, cur.fetchone() or (), strict=True))
        conn.execute("DELETE FROM customer_cards")
        conn.execute("DELETE FROM customers")
    return customer, card


def seed(db: Database, count: int) -> dict[str, Any]:
    started = time.monotonic()
    template, card_template = _template(db)
    wire = json.loads(template["data"])
    rng = random.Random(15)
    now = dt.datetime.now(dt.UTC)
    columns = list(template)
    card_columns = list(card_template)
    with psycopg.connect(db.url.replace("+psycopg", "")) as conn:
        ids = []
        with conn.cursor().copy(f"COPY customers ({', '.join(columns)}) FROM STDIN") as rows:
            for i in range(count):
                first, last = rng.choice(FIRST), f"{rng.choice(LAST)} {i}"
                visits = rng.randint(0, 40)
                spend = Decimal(rng.randint(0, 300_000)) / 100 if visits else Decimal("0")
                last_at = now - dt.timedelta(days=rng.randint(0, 720)) if visits else None
                first_at = last_at - dt.timedelta(days=rng.randint(0, 720)) if last_at else None
                consent = rng.random() < 0.6
                varied = {
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "first_name": first, "last_name": last, "mobile": f"+3934{i:08d}",
                    "email": f"c{i}@example.com", "city": rng.choice(CITIES),
                    "home_store": rng.choice(STORES),
                    "birth_date": dt.date(1940, 1, 1) + dt.timedelta(days=rng.randint(0, 25_000)),
                    "consent_email": consent, "total_spend": spend, "visits": visits,
                    "first_purchase": first_at, "last_purchase": last_at,
                    "search_key": search_key(first, last, f"c{i}@example.com",
                                             f"+3934{i:08d}")}
                data = {**wire, **{k: v for k, v in varied.items() if k in wire}}
                data["birth_date"] = varied["birth_date"].isoformat()
                data["total_spend"] = str(spend)
                for key in ("first_purchase", "last_purchase"):
                    data[key] = varied[key].isoformat() if varied[key] else None
                data["consent_email"] = consent
                row = {**template, **varied, "data": json.dumps(data, sort_keys=True)}
                rows.write_row([row[c] for c in columns])
                ids.append(varied["id"])
        with conn.cursor().copy(f"COPY customer_cards ({', '.join(card_columns)}) "
                                "FROM STDIN") as cards:
            for i, customer_id in enumerate(ids):
                cards.write_row([{**card_template, "number": loyalty_card_number("299", i + 1),
                                  "customer_id": customer_id,
                                  "active": rng.random() < 0.95}[c] for c in card_columns])
    # As autovacuum would leave a registry that is not loaded all at once: statistics, and
    # the visibility map an index-only scan needs.
    with psycopg.connect(db.url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE customers")
        conn.execute("VACUUM ANALYZE customer_cards")
        size = conn.execute("SELECT pg_total_relation_size('customers')").fetchone()
    return {"seconds": round(time.monotonic() - started, 1),
            "customers_mb": round((size[0] if size else 0) / 1e6, 1),
            "via": "COPY in the shape customers.create writes (template made by the service)"}


def run(count: int, rounds: int = 5) -> dict[str, Any]:
    url = create_database("tessera_bench_customer_lists")
    db = Database(url, pool_size=2)
    try:
        migrate.upgrade(db)
        seeded = seed(db, count)
        timings = []
        matched = 0
        for n in range(rounds + 1):
            with db.sessions() as session:
                t0 = time.perf_counter()
                node = customer_queries.read_criteria(session, CRITERIA)
                matched = customer_queries.count(session, node)
                elapsed = time.perf_counter() - t0
            if n:  # the first is the warm-up (caches, the plan)
                timings.append(elapsed)
        with db.sessions() as session:
            statement = (customer_queries.select(customer_queries.func.count())
                         .select_from(customer_queries.Customer)
                         .where(customer_queries.where(
                             session, customer_queries.read_criteria(session, CRITERIA))))
            compiled = statement.compile(session.get_bind(),
                                         compile_kwargs={"literal_binds": True})
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            plan = [r[0] for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")]
        scans = sorted({line.strip().split("  ")[0].removeprefix("-> ").split(" on ")[0]
                        + (" " + line.split(" on ")[1].split()[0] if " on " in line else "")
                        for line in plan if "Scan" in line})
        limit = ("PostgreSQL: " + ", ".join(scans) + "; the criteria are expressions "
                 "(lower(city), the card's EXISTS, a zone's date) evaluated row by row")
        return {"customers": count, "criteria": len(CRITERIA["criteria"]), "matched": matched,
                "limit": limit,
                "count_p50_s": round(statistics.median(timings), 3),
                "count_max_s": round(max(timings), 3), "rounds": rounds, "seed": seeded,
                "plan": plan, "target_s": TARGET_S}
    finally:
        db.engine.dispose()
        drop_database(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.customer_lists", description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.count, args.rounds), indent=2, default=str))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
