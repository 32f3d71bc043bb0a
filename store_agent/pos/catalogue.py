"""The local copy as the pricing engine's source: products, prices, policies, cards.

The turning of rows into the engine's inputs is ``rules.context.pricing_inputs``, shared
with central's re-pricing; this module only loads the rows from SQLite.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from protocol.streams import PRICES, streams_of
from rules import context
from rules.cards import LoyaltyProfile
from rules.pricing import Product


def store_group(conn: sqlite3.Connection, store: str) -> str | None:
    row = conn.execute("SELECT grp FROM store_info WHERE code = ?", (store,)).fetchone()
    return None if row is None else row[0]


def price_streams(store: str, group: str | None) -> list[str]:
    return streams_of(PRICES, store, group)


class LocalSource:
    """``rules.context.PricingSource`` over the agent's SQLite copy."""

    def __init__(self, conn: sqlite3.Connection, store: str, group: str | None) -> None:
        self.conn = conn
        self.streams = price_streams(store, group)

    def product(self, code: str) -> Mapping[str, Any] | None:
        row: sqlite3.Row | None = self.conn.execute(
            "SELECT p.* FROM barcodes b JOIN products p ON p.sku = b.sku WHERE b.code = ?",
            (code,)).fetchone()
        if row is None:
            row = self.conn.execute("SELECT * FROM products WHERE sku = ?", (code,)).fetchone()
        return None if row is None else dict(row)

    def category_parents(self) -> Mapping[str, str | None]:
        return {r[0]: r[1] for r in self.conn.execute("SELECT code, parent FROM categories")}

    def prices(self, sku: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
        marks = ",".join("?" * len(self.streams))
        return [(r["stream"], {"price": r["price"], "effective_from": r["effective_from"]})
                for r in self.conn.execute(
                    f"SELECT stream, price, effective_from FROM prices "  # noqa: S608
                    f"WHERE sku = ? AND stream IN ({marks})", (sku, *self.streams))]

    def policies(self) -> Iterable[Mapping[str, Any]]:
        return [json.loads(r[0]) for r in self.conn.execute("SELECT data FROM policies")]

    def vip_card(self, number: str) -> Mapping[str, Any] | None:
        row = self.conn.execute("SELECT data FROM vip_cards WHERE code = ?",
                                (number,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def partner_cards(self, number: str) -> Iterable[tuple[str, str, str]]:
        return [(r["programme"], r["first"], r["last"]) for r in self.conn.execute(
            "SELECT programme, first, last FROM partner_cards WHERE active = 1 AND "
            "(first = ? OR (length(first) = ? AND first <= ? AND last >= ?))",
            (number, len(number), number, number))]

    def partner_programme(self, code: str) -> Mapping[str, Any] | None:
        row = self.conn.execute("SELECT data FROM partner_programmes WHERE code = ?",
                                (code,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def loyalty_profiles(self) -> Iterable[Mapping[str, Any]]:
        return [json.loads(r[0]) for r in self.conn.execute("SELECT data FROM loyalty_profiles")]


def load_products(conn: sqlite3.Connection, codes: Sequence[str], store: str,
                  group: str | None, now: dt.datetime) -> dict[str, Product]:
    """Engine products for ``codes`` (barcodes or SKUs), priced for this store at ``now``."""
    return context.products_from(LocalSource(conn, store, group), codes, now)


def stream_versions(conn: sqlite3.Connection) -> dict[str, int]:
    """The version of every stream this copy has applied (a sale records them)."""
    return {str(r[0]): int(r[1]) for r in conn.execute("SELECT stream, version FROM streams")}


def pricing_inputs(conn: sqlite3.Connection, codes: Sequence[str], cards: Sequence[str],
                   store: str, now: dt.datetime,
                   profile: LoyaltyProfile | None = None) -> context.PricingInputs:
    """The engine's inputs from the local copy; ``profile``: the sale's customer's loyalty
    profile (its discount level is priced like a card)."""
    group = store_group(conn, store)
    return context.pricing_inputs(LocalSource(conn, store, group), codes, cards, store,
                                  group, now, profile)
