"""Keeps the fiscal device's article (PLU) table in step with central's catalogue and prices.

SQLite triggers mark a product dirty in the same transaction that applies its change from
central (a product, or a price entry of any stream): nothing can be applied without being
marked. A price scheduled for later is marked for its moment. The sync pass programs the due
articles at this store's price in force, outside open receipts and only when every sale has
its receipt, then forgets the marks it handled. PLU numbers are given once per SKU and kept.
VAT rates are read from the device and mapped, never written.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from decimal import Decimal

from store_agent.fiscal.device import FiscalError, Plu
from store_agent.fiscal.fiscaliser import NAME_WIDTH, Fiscaliser
from store_agent.migrations import PLU_SYNC_FLAG
from store_agent.pos.catalogue import load_products, store_group
from store_agent.sqlite_store import LocalStore

log = logging.getLogger(__name__)

BATCH = 200


class PluSync:
    def __init__(self, store: LocalStore, fiscal: Fiscaliser, store_code: str) -> None:
        self.store = store
        self.fiscal = fiscal
        self.store_code = store_code
        with store.write() as conn:  # from now on products and prices mark their PLUs
            store.set_meta(conn, PLU_SYNC_FLAG, "on")

    def mark_all(self) -> None:
        """Mark every product (first start with a device, or a device replaced)."""
        with self.store.write() as conn:
            conn.execute("INSERT INTO plu_dirty (sku, due_at) SELECT sku, '' FROM products")

    def due(self, now: dt.datetime) -> int:
        with self.store.read() as conn:
            return int(conn.execute("SELECT COUNT(DISTINCT sku) FROM plu_dirty "
                                    "WHERE due_at <= ?", (now.isoformat(),)).fetchone()[0])

    def run_once(self, now: dt.datetime) -> int:
        """Program one batch of due articles; returns how many the device took."""
        if not self.due(now):
            return 0  # the usual case: a read, no write lock taken from the till
        with self.fiscal.lock:
            if self.fiscal.pending():
                return 0  # sales first: the device must be consistent
            with self.store.write() as conn:
                marks = conn.execute("SELECT id, sku FROM plu_dirty WHERE due_at <= ? "
                                     "ORDER BY id LIMIT ?", (now.isoformat(), BATCH)).fetchall()
                if not marks:
                    return 0
                skus = sorted({str(m[1]) for m in marks})
                numbers = _numbers(conn, skus)
                items, refused = self._items(conn, skus, numbers, now)
            try:
                if self.fiscal.device.transaction_state().open:
                    return 0
                report = self.fiscal.device.sync_plu(items) if items else None
            except FiscalError as exc:
                log.warning("PLU sync postponed: %s", exc)
                return 0
            sku_of = {number: sku for sku, number in numbers.items()}
            if report is not None:
                for number, reason in report.refused:
                    refused[sku_of[number]] = reason
            programmed = [sku_of[n] for n in (report.programmed if report else ())]
            with self.store.write() as conn:
                # Only the marks read above: a change applied meanwhile keeps its own mark.
                conn.executemany("DELETE FROM plu_dirty WHERE id = ?", [(m[0],) for m in marks])
                conn.executemany("INSERT OR REPLACE INTO plu_refused (sku, reason, at) "
                                 "VALUES (?, ?, ?)",
                                 [(sku, reason, now.isoformat()) for sku, reason in
                                  refused.items()])
                conn.executemany("DELETE FROM plu_refused WHERE sku = ?",
                                 [(sku,) for sku in programmed])
            if refused:
                log.warning("PLU sync: %d articles refused, e.g. %s", len(refused),
                            dict(list(refused.items())[:5]))
            return len(programmed)

    def _items(self, conn: sqlite3.Connection, skus: list[str], numbers: dict[str, int],
               now: dt.datetime) -> tuple[list[Plu], dict[str, str]]:
        groups = self.fiscal.vat_groups()
        products = load_products(conn, skus, self.store_code,
                                 store_group(conn, self.store_code), now)
        items: list[Plu] = []
        refused: dict[str, str] = {}
        for sku in skus:
            product = products.get(sku)
            if product is None or not product.active:
                continue  # gone or deactivated: nothing to sell it at
            group = groups.get(Decimal(product.vat_rate).quantize(Decimal("0.01")))
            if group is None:
                refused[sku] = f"VAT rate {product.vat_rate}% has no group on the device"
                continue
            items.append(Plu(number=numbers[sku], name=product.name[:NAME_WIDTH],
                             price=product.price, vat_group=group))
        return items, refused


def _numbers(conn: sqlite3.Connection, skus: list[str]) -> dict[str, int]:
    """The PLU number of each SKU, given once (in this write transaction) and kept."""
    known = {str(r[0]): int(r[1]) for r in conn.execute(
        f"SELECT sku, number FROM plu_numbers WHERE sku IN ({','.join('?' * len(skus))})",  # noqa: S608
        skus)}
    following = int(conn.execute("SELECT COALESCE(MAX(number), 0) FROM plu_numbers"
                                 ).fetchone()[0])
    for sku in skus:
        if sku not in known:
            following += 1
            conn.execute("INSERT INTO plu_numbers (sku, number) VALUES (?, ?)",
                         (sku, following))
            known[sku] = following
    return known
