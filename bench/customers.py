"""The store's copy of the chain's customers at scale (issue 15): bootstrap, size, lookups.

A real agent database (migrations, replica, store service) takes a snapshot of ``count``
customers with one loyalty card each, in parts of 500 customers (1,000 entries, central's
largest part) encoded as central sends them; the bootstrap time is the store's side, from a
part's bytes (JSON decode, message parse, ``Replica.apply_snapshot``) to its commit, summed
(``wall_s`` adds the making and encoding of the parts, central's work). Then the till's
lookups run through ``store_agent.pos.customers``: card, mobile, name (one or two folded
prefixes). Targets (issue 15, 1M customers):
bootstrap ≤ 60 s, database ≤ 500 MB, card or phone ≤ 5 ms p99, name search ≤ 50 ms p99.

``python -m bench.customers --count 1000000`` runs it alone; ``make bench`` includes it.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from protocol import messages
from protocol.encoding import dumps, loads
from rules.cards import loyalty_card_number
from store_agent.pos.customers import Customers
from store_agent.settings import CustomerSettings
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica

PART = 500
TARGETS = {"bootstrap_s": 60.0, "db_mb": 500.0, "card_p99_ms": 5.0, "mobile_p99_ms": 5.0,
           "name_p99_ms": 50.0}
FIRST = ("Maria", "Ion", "Giulia", "Ștefan", "Jürgen", "Ana", "Luca", "Élodie", "Marco",
         "Ioana", "Francesca", "Andrei", "Sofia", "Mihai", "Chiara", "Pierre", "Elena")
LAST = ("Rossi", "Popescu", "Müller", "D'Amico", "Ionescu", "Bianchi", "Dumitrescu",
        "Ferrari", "Lefèvre", "Romano", "Constantinescu", "Esposito", "Stan", "Colombo",
        "Georgescu", "Ricci", "Marino", "Gallo", "Moreau", "Țurcanu")


def _customer(i: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    first = rng.choice(FIRST)
    # A varied surname: a common stem and a serial, as real registries have many names.
    last = f"{rng.choice(LAST)}{'' if i % 3 else ''} {_syllables(i)}"
    record = {"id": cid, "first_name": first, "last_name": last,
              "mobile": f"+3934{i:08d}", "email": f"c{i}@example.com",
              "city": "Milano", "country": "IT", "extra": {}, "stamps": {},
              "total_spend": "120.50", "visits": 4}
    card = {"number": loyalty_card_number("299", i + 1), "customer": cid, "kind": "loyalty",
            "active": True}
    return record, card


_SYL = ("ba", "ri", "lo", "ne", "sca", "tu", "mi", "ve", "do", "ra", "che", "zo", "pa", "gi",
        "le", "no")


def _syllables(i: int) -> str:
    word = ""
    for _ in range(3):
        word += _SYL[i % len(_SYL)]
        i //= len(_SYL)
    return word.capitalize()


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
            "max_ms": round(ordered[-1] * 1000, 3)}


def run(count: int, lookups: int = 2_000, directory: Path | None = None,
        balances: bool = False) -> dict[str, Any]:
    """``balances``: each customer also has a points balance (a loyalty chain's copy)."""
    own = directory is None
    work = Path(tempfile.mkdtemp(prefix="tessera-bench-customers-", dir=directory))
    store = LocalStore(work / "agent.db")
    replica = Replica(store)
    rng = random.Random(15)
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    store_side = store_cpu = 0.0
    parts = -(-count // PART)
    snapshot = uuid.uuid4().hex
    for part in range(parts):
        entries = []
        for i in range(part * PART, min(count, (part + 1) * PART)):
            record, card = _customer(i, rng)
            entries.append({"entity": "customer", "key": record["id"], "data": record})
            entries.append({"entity": "customer_card", "key": card["number"], "data": card})
            if balances:
                entries.append({"entity": "points_balance", "key": record["id"], "data": {
                    "customer": record["id"], "points": f"{i % 5000}.00",
                    "updated_at": "2026-12-02T08:00:00+00:00"}})
            if i % max(1, count // lookups) == 0:
                records.append(record)
        # Central's side (making the records, encoding the part) is not the store's time:
        # the store's is from the part's bytes, as MQTT hands them over, to its commit.
        payload = dumps(messages.envelope(
            "snapshot", stream="customers", log_epoch="bench", snapshot=snapshot,
            version=1, part=part + 1, parts=parts, entries=entries))
        t0, c0 = time.perf_counter(), time.process_time()
        replica.apply_snapshot(messages.parse(loads(payload), "changes", "snapshot"))
        store_side += time.perf_counter() - t0
        store_cpu += time.process_time() - c0
    wall = time.perf_counter() - started
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    conn = store.connection()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size_mb = sum(p.stat().st_size for p in work.glob("agent.db*")) / 1e6
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    free_mb = conn.execute("PRAGMA freelist_count").fetchone()[0] * page / 1e6

    service = Customers(store, "bench", CustomerSettings("IT"))
    card_t, mobile_t, name_t = [], [], []
    name_hits = 0
    for n, record in enumerate(records):
        index = int(record["mobile"][5:])
        card = loyalty_card_number("299", index + 1)
        t0 = time.perf_counter()
        found = service.find(card=card)
        card_t.append(time.perf_counter() - t0)
        assert [c["id"] for c in found.customers] == [record["id"]], card
        t0 = time.perf_counter()
        found = service.find(mobile=record["mobile"])
        mobile_t.append(time.perf_counter() - t0)
        assert record["id"] in [c["id"] for c in found.customers]
        words = record["last_name"].split()
        query = (f"{record['first_name'][:3]} {words[-1][:4]}" if n % 2
                 else words[-1][: 2 + n % 4])
        t0 = time.perf_counter()
        found = service.find(name=query)
        name_t.append(time.perf_counter() - t0)
        name_hits += bool(found.customers)
    store.close()
    result = {"customers": count, "points_balances": count if balances else 0,
              "bootstrap_s": round(store_side, 1),
              "customers_per_s": round(count / store_side), "wall_s": round(wall, 1),
              # CPU seconds of the store's side: on a shared machine, what a core of its own
              # would take (the disk's waits aside).
              "bootstrap_cpu_s": round(store_cpu, 1),
              "db_mb": round(size_mb, 1),
              "db_free_mb": round(free_mb, 1),
              "peak_rss_mb": round(peak_rss_mb, 1),
              "card": _percentiles(card_t), "mobile": _percentiles(mobile_t),
              "name": _percentiles(name_t), "name_queries_with_hits": name_hits,
              "lookups": len(records), "targets": TARGETS}
    if own:
        for path in work.glob("agent.db*"):
            path.unlink()
        work.rmdir()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.customers", description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--balances", action="store_true",
                        help="a points balance for every customer too")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.count, args.lookups, balances=args.balances),  # noqa: T201
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
