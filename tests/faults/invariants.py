"""The invariant of the fault-injection suite, checked once the network is quiet.

Read straight from the databases (agent SQLite files, central's PostgreSQL), not through
the APIs under test:

- upstream: central holds exactly the union of every store's sales, each once, under
  epochs the store had, seqs 1..N without holes while the store kept one epoch; no
  outbox entry is left unacknowledged and each store's acknowledged seq is its outbox
  head;
- downstream: every store holds exactly central's stream versions for the streams it
  follows (scope all, its group, itself), nothing else, the same products (sku, name,
  price, active, barcodes) as central's catalogue and the same price entries of those
  streams.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg

from protocol.streams import parse_stream

Product = tuple[str, Decimal, bool, tuple[str, ...]]
PriceKey = tuple[str, str, dt.datetime]  # stream, sku, effective_from


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


@dataclass(frozen=True)
class StoreState:
    code: str
    epoch: str
    sales: dict[str, int]  # uuid -> till number
    outbox_pending: int
    outbox_head: int
    acked: int
    streams: dict[str, int]
    products: dict[str, Product]
    prices: dict[PriceKey, Decimal]
    previous_epochs: tuple[str, ...] = ()


@dataclass(frozen=True)
class CentralState:
    sales: list[tuple[str, str, str, int, int]]  # store, uuid, epoch, seq, number
    heads: dict[str, int]
    groups: dict[str, str | None]  # store code -> group code
    products: dict[str, Product]
    prices: dict[PriceKey, Decimal]


def read_store(code: str, database: Path) -> StoreState:
    """A consistent read of one agent's SQLite file (read-only; the agent may be running)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        conn.execute("BEGIN")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        sales = dict(conn.execute("SELECT uuid, number FROM sales").fetchall())
        pending = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        head = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        streams = dict(conn.execute("SELECT stream, version FROM streams").fetchall())
        barcodes: dict[str, list[str]] = {}
        for code_, sku in conn.execute("SELECT code, sku FROM barcodes ORDER BY code"):
            barcodes.setdefault(sku, []).append(code_)
        products = {sku: (name, Decimal(price), bool(active), tuple(barcodes.get(sku, ())))
                    for sku, name, price, active in conn.execute(
                        "SELECT sku, name, sale_price, active FROM products")}
        prices = {(stream, sku, _moment(moment)): Decimal(price)
                  for stream, sku, moment, price in conn.execute(
                      "SELECT stream, sku, effective_from, price FROM prices")}
        conn.execute("COMMIT")
    finally:
        conn.close()
    return StoreState(code=code, epoch=meta.get("epoch", ""), sales=sales,
                      outbox_pending=int(pending), outbox_head=int(head[0]) if head else 0,
                      acked=int(meta.get("acked_seq", "0")), streams=streams,
                      products=products, prices=prices,
                      previous_epochs=tuple(e for e in meta.get("previous_epochs", "")
                                            .split(",") if e))


def read_central(database_url: str) -> CentralState:
    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        sales = [(str(a), str(b), str(c), int(d), int(e)) for a, b, c, d, e in conn.execute(
            "SELECT st.code, s.uuid, s.store_epoch, s.seq, s.number FROM sales s "
            "JOIN stores st ON st.id = s.store_id").fetchall()]
        heads = {str(s): int(v) for s, v in conn.execute(
            "SELECT stream, version FROM stream_heads").fetchall()}
        groups = {str(c): g for c, g in conn.execute(
            "SELECT s.code, g.code FROM stores s "
            "LEFT JOIN store_groups g ON g.id = s.group_id").fetchall()}
        barcodes: dict[int, list[str]] = {}
        for code, product_id in conn.execute("SELECT code, product_id FROM barcodes "
                                             "ORDER BY code"):
            barcodes.setdefault(product_id, []).append(code)
        products = {sku: (name, Decimal(price), bool(active), tuple(barcodes.get(pid, ())))
                    for pid, sku, name, price, active in conn.execute(
                        "SELECT id, sku, name, sale_price, active FROM products")}
        prices = {}
        for scope, ref, sku, moment, price in conn.execute(
                "SELECT e.scope, e.scope_ref, p.sku, e.effective_from, e.price "
                "FROM price_entries e JOIN products p ON p.id = e.product_id"):
            stream = "prices" if scope == "all" else f"prices@{scope[0]}:{ref}"
            prices[(stream, str(sku), moment.astimezone(dt.UTC))] = Decimal(price)
    return CentralState(sales=sales, heads=heads, groups=groups, products=products,
                        prices=prices)


def followed(store: str, group: str | None, streams: dict[str, int]) -> dict[str, int]:
    """The streams (with their versions) that ``store`` follows."""
    result = {}
    for stream, version in streams.items():
        _bucket, scope = parse_stream(stream)
        if (scope.kind == "all" or (scope.kind == "store" and scope.ref == store)
                or (scope.kind == "group" and group is not None and scope.ref == group)):
            result[stream] = version
    return result


def upstream_problems(central: CentralState, stores: list[StoreState]) -> list[str]:
    problems = []
    counts = Counter(uuid for _s, uuid, _e, _q, _n in central.sales)
    problems += [f"sale {u} held {n} times at central" for u, n in counts.items() if n > 1]
    keys = Counter((s, e, q) for s, _u, e, q, _n in central.sales)
    problems += [f"(store, epoch, seq) {k} used {n} times" for k, n in keys.items() if n > 1]
    known = {s.code for s in stores}
    for store in stores:
        mine = {uuid: (epoch, seq, number) for code, uuid, epoch, seq, number in central.sales
                if code == store.code}
        missing = sorted(set(store.sales) - set(mine))
        extra = sorted(set(mine) - set(store.sales))
        if missing:
            problems.append(f"{store.code}: {len(missing)} sales not at central, "
                            f"e.g. {missing[:3]}")
        if extra:
            problems.append(f"{store.code}: {len(extra)} sales at central unknown to the "
                            f"store, e.g. {extra[:3]}")
        wrong = [u for u, (_e, _q, number) in mine.items()
                 if u in store.sales and store.sales[u] != number]
        if wrong:
            problems.append(f"{store.code}: till numbers differ for {wrong[:3]}")
        seqs = sorted(seq for epoch, seq, _n in mine.values() if epoch == store.epoch)
        if not store.previous_epochs and seqs != list(range(1, len(seqs) + 1)):
            problems.append(f"{store.code}: seqs at central are not 1..N: {seqs[:20]}...")
        if seqs and seqs[-1] > store.acked:
            problems.append(f"{store.code}: central holds seq {seqs[-1]} of epoch "
                            f"{store.epoch}, beyond the store's ack {store.acked}")
        epochs = {epoch for epoch, _q, _n in mine.values()}
        strange = epochs - {store.epoch, *store.previous_epochs}
        if strange:
            problems.append(f"{store.code}: central holds sales of epochs {sorted(strange)} "
                            "the store never had")
        if store.outbox_pending:
            problems.append(f"{store.code}: {store.outbox_pending} outbox entries not acked")
        if store.acked != store.outbox_head:
            problems.append(f"{store.code}: acked seq {store.acked} != outbox head "
                            f"{store.outbox_head}")
        if not store.previous_epochs and len(store.sales) != store.outbox_head:
            problems.append(f"{store.code}: {len(store.sales)} sales but outbox head "
                            f"{store.outbox_head}")
    strangers = {code for code, *_ in central.sales} - known
    problems += [f"central holds sales of {code}, which has no agent here"
                 for code in sorted(strangers)]
    return problems


def downstream_problems(central: CentralState, stores: list[StoreState]) -> list[str]:
    problems = []
    for store in stores:
        want = {s: v for s, v in followed(store.code, central.groups.get(store.code),
                                          central.heads).items() if v > 0}
        have = {s: v for s, v in store.streams.items() if v > 0}
        if have != want:
            diff = {s: (have.get(s), want.get(s)) for s in sorted(set(have) | set(want))
                    if have.get(s) != want.get(s)}
            problems.append(f"{store.code}: stream versions (store, central) differ: {diff}")
        if store.products != central.products:
            skus = sorted(sku for sku in set(store.products) | set(central.products)
                          if store.products.get(sku) != central.products.get(sku))
            problems.append(f"{store.code}: {len(skus)} products differ from central, e.g. "
                            + "; ".join(f"{sku}: {store.products.get(sku)} vs "
                                        f"{central.products.get(sku)}" for sku in skus[:3]))
        want_prices = {k: v for k, v in central.prices.items() if k[0] in want}
        if store.prices != want_prices:
            keys = sorted(k for k in set(store.prices) | set(want_prices)
                          if store.prices.get(k) != want_prices.get(k))
            problems.append(f"{store.code}: {len(keys)} price entries differ from central, "
                            "e.g. " + "; ".join(f"{k}: {store.prices.get(k)} vs "
                                                f"{want_prices.get(k)}" for k in keys[:3]))
    return problems


def problems(database_url: str, agents: dict[str, Path]) -> list[str]:
    """Every way the network breaks the invariant right now (empty: it holds)."""
    stores = [read_store(code, path) for code, path in sorted(agents.items())]
    central = read_central(database_url)
    return upstream_problems(central, stores) + downstream_problems(central, stores)


def wait_invariant(database_url: str, agents: dict[str, Path], timeout: float,
                   check: object = None) -> float:
    """Poll until the invariant holds; returns the seconds it took. On timeout the
    assertion lists what is still wrong. ``check``, if callable, runs each round (the
    harness's dead-process check)."""
    start = time.monotonic()
    deadline = start + timeout
    found: list[str] = []
    while True:
        if callable(check):
            check()
        found = problems(database_url, agents)
        if not found:
            return time.monotonic() - start
        if time.monotonic() > deadline:
            raise AssertionError(f"invariant still broken after {timeout}s:\n  "
                                 + "\n  ".join(found))
        time.sleep(0.25)
