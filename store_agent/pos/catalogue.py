"""Reads of the local copy that the pricing engine needs: products, policies, cards."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from protocol.streams import PRICES, streams_of
from rules.context import VIP_PREFIX, partner_discount, product_from_wire, vip_discount
from rules.policies import CardDiscount, Policies, card_in_range, policies_from_wire
from rules.pricing import Product


@dataclass(frozen=True)
class PricingInputs:
    catalogue: dict[str, Product]
    policies: Policies
    cards: tuple[CardDiscount, ...]
    streams: dict[str, int]


def store_group(conn: sqlite3.Connection, store: str) -> str | None:
    row = conn.execute("SELECT grp FROM store_info WHERE code = ?", (store,)).fetchone()
    return None if row is None else row[0]


def _product_row(conn: sqlite3.Connection, code: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT p.* FROM barcodes b JOIN products p ON p.sku = b.sku WHERE b.code = ?",
        (code,)).fetchone()
    if row is None:
        row = conn.execute("SELECT * FROM products WHERE sku = ?", (code,)).fetchone()
    return row


def price_streams(store: str, group: str | None) -> list[str]:
    return streams_of(PRICES, store, group)


def load_products(conn: sqlite3.Connection, codes: Sequence[str], store: str,
                  group: str | None, now: dt.datetime) -> dict[str, Product]:
    """Engine products for ``codes`` (barcodes or SKUs), priced for this store at ``now``."""
    parents: dict[str, str | None] = {r[0]: r[1] for r in
                                      conn.execute("SELECT code, parent FROM categories")}
    streams = price_streams(store, group)
    marks = ",".join("?" * len(streams))
    result: dict[str, Product] = {}
    for code in set(codes):
        row = _product_row(conn, code)
        if row is None:
            continue
        prices = [(r["stream"], {"price": r["price"], "effective_from": r["effective_from"]})
                  for r in conn.execute(
                      f"SELECT stream, price, effective_from FROM prices "  # noqa: S608
                      f"WHERE sku = ? AND stream IN ({marks})", (row["sku"], *streams))]
        result[code] = product_from_wire(dict(row), parents, prices, now)
    return result


def load_policies(conn: sqlite3.Connection, store: str, group: str | None) -> Policies:
    rows = [json.loads(r[0]) for r in conn.execute("SELECT data FROM policies")]
    return policies_from_wire(rows, store, group)


def find_card(conn: sqlite3.Connection, number: str, store: str, group: str | None,
              now: dt.datetime) -> CardDiscount:
    """The discount a scanned card gives here; UnknownCard says why it gives none."""
    if number.startswith(VIP_PREFIX):
        row = conn.execute("SELECT data FROM vip_cards WHERE code = ?", (number,)).fetchone()
        return vip_discount(number, None if row is None else json.loads(row[0]), now)
    candidates = conn.execute(
        "SELECT programme, first, last FROM partner_cards WHERE active = 1 AND "
        "(first = ? OR (length(first) = ? AND first <= ? AND last >= ?))",
        (number, len(number), number, number)).fetchall()
    programme: dict[str, Any] | None = None
    for candidate in candidates:
        if card_in_range(number, candidate["first"], candidate["last"]):
            row = conn.execute("SELECT data FROM partner_programmes WHERE code = ?",
                               (candidate["programme"],)).fetchone()
            if row is not None:
                programme = json.loads(row[0])
                break
    return partner_discount(number, programme, store, group, now)


def pricing_inputs(conn: sqlite3.Connection, codes: Sequence[str], cards: Sequence[str],
                   store: str, now: dt.datetime) -> PricingInputs:
    group = store_group(conn, store)
    streams = {str(r[0]): int(r[1]) for r in conn.execute("SELECT stream, version FROM streams")}
    return PricingInputs(catalogue=load_products(conn, codes, store, group, now),
                         policies=load_policies(conn, store, group),
                         cards=tuple(find_card(conn, c, store, group, now) for c in cards),
                         streams=streams)
