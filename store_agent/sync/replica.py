"""The local copy of central's data and the applier of its change log.

A change is applied only if it is the next version of its stream, in the same SQLite
transaction that records the new version: a duplicate (version at or below the applied
one) is ignored, a change past a hole is held until the hole is filled.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from protocol.checksum import EMPTY, combine, entry_hash
from protocol.encoding import dumps
from protocol.entities import ENTITIES, Registry
from protocol.streams import CUSTOMERS, parse_stream
from rules.pricing import unit_of
from store_agent.sqlite_store import LocalStore
from store_agent.sync import customer_snapshot
from store_agent.sync.replica_tables import BOOKKEEPING_TABLES, CUSTOMER_MAPPINGS, TABLES, Tables

log = logging.getLogger(__name__)

MAX_HELD = 100_000
BULK_CACHE_KIB = -65_536
"""The page cache (64 MiB) while a customers snapshot is applied: the swap sorts a million
keys for each index it builds."""


@dataclass(frozen=True)
class ApplyResult:
    stream: str
    applied: int
    duplicates: int
    held: int
    version: int
    hole: bool


@dataclass(frozen=True)
class Layout:
    """What the replica knows: the protocol's entities and the agent's table of each."""

    entities: Registry = ENTITIES
    tables: Tables = TABLES

    def replica_tables(self) -> tuple[str, ...]:
        return (*self.tables.names(), *BOOKKEEPING_TABLES)


def _apply_one(conn: sqlite3.Connection, layout: Layout, stream: str, entity: str, key: str,
               op: str, data: dict[str, Any] | None) -> None:
    known, table = layout.entities.get(entity), layout.tables.get(entity)
    if known is None or table is None:
        # Readers ignore what they do not know (additive protocol); the version still
        # advances so the stream does not stall.
        log.info("ignoring change of unknown entity %r", entity)
        return
    if op == "delete" or data is None:
        table.delete(conn, stream, known.key_parts(key))
        return
    loaded = known.load(key, data)
    table.upsert(conn, stream, loaded, data)
    if table.names_group:
        _leave_other_groups(conn, layout, loaded.get("group"))


def _leave_other_groups(conn: sqlite3.Connection, layout: Layout, group: str | None) -> None:
    """The store's own record says its group: forget the streams of any other group.

    (Only this store's record reaches it.) Central sends the new group's streams at the
    next catch-up, since the store now follows them from version 0.
    """
    for (stream,) in conn.execute("SELECT stream FROM streams").fetchall():
        _, scope = parse_stream(str(stream))
        if scope.kind != "group" or scope.ref == group:
            continue
        log.info("the store left the group of %s: forgetting that stream", stream)
        _wipe(conn, layout, str(stream))
        conn.execute("DELETE FROM snapshot_parts WHERE stream = ?", (stream,))
        conn.execute("DELETE FROM streams WHERE stream = ?", (stream,))


def _track(conn: sqlite3.Connection, layout: Layout, stream: str, entity: str, key: str,
           op: str, data: dict[str, Any] | None) -> list[int]:
    """Apply one change and keep the entry's hash for the stream checksum; returns the hashes
    to toggle (the entry's old one, if it had one, and its new one).

    The hash is kept in ``entry_hashes``, or in the entity's own row where its table says so
    (customers and their cards: replica_tables.Table.hash_column).
    """
    known, table = layout.entities.get(entity), layout.tables.get(entity)
    toggles = []
    if known is not None and table is not None and table.hash_column is not None:
        parts = known.key_parts(key)
        old = table.stored_hash(conn, parts)
        if old is not None:
            toggles.append(old)
        _apply_one(conn, layout, stream, entity, key, op, data)
        if op != "delete" and data is not None:
            value = entry_hash(entity, key, data)
            toggles.append(value)
            table.keep_hash(conn, parts, value)
        return toggles
    row = conn.execute("SELECT hash FROM entry_hashes WHERE stream = ? AND entity = ? AND "
                       "key = ?", (stream, entity, key)).fetchone()
    if row is not None:
        toggles.append(int(row[0], 16))
    _apply_one(conn, layout, stream, entity, key, op, data)
    if op == "delete" or data is None:
        conn.execute("DELETE FROM entry_hashes WHERE stream = ? AND entity = ? AND key = ?",
                     (stream, entity, key))
    else:
        value = entry_hash(entity, key, data)
        toggles.append(value)
        conn.execute("INSERT OR REPLACE INTO entry_hashes (stream, entity, key, hash) "
                     "VALUES (?, ?, ?, ?)", (stream, entity, key, f"{value:016x}"))
    return toggles


def _drain(conn: sqlite3.Connection, layout: Layout, stream: str, held: dict[int, dict[str, Any]],
           version: int, checksum: str) -> tuple[int, int]:
    """Apply the held changes that follow ``version``, then record the stream's new version
    and checksum; returns (version, how many applied)."""
    applied = 0
    while version + 1 in held:
        change = held.pop(version + 1)
        checksum = combine(checksum, *_track(conn, layout, stream, change["entity"],
                                             change["key"], change["op"], change.get("data")))
        version += 1
        applied += 1
    conn.execute("INSERT INTO streams (stream, version, checksum) VALUES (?, ?, ?) "
                 "ON CONFLICT (stream) DO UPDATE SET version = excluded.version, "
                 "checksum = excluded.checksum", (stream, version, checksum))
    return version, applied


def _stream_checksum(conn: sqlite3.Connection, stream: str) -> str:
    row = conn.execute("SELECT checksum FROM streams WHERE stream = ?", (stream,)).fetchone()
    return str(row[0]) if row is not None and row[0] is not None else EMPTY


def _wipe(conn: sqlite3.Connection, layout: Layout, stream: str) -> None:
    """Forget everything this store holds of ``stream`` (before a snapshot replaces it)."""
    conn.execute("DELETE FROM entry_hashes WHERE stream = ?", (stream,))
    bucket, scope = parse_stream(stream)
    entities = layout.entities.in_bucket(bucket)
    if not entities:
        log.info("snapshot of unknown bucket %r: nothing to forget", bucket)
    for entity in entities:
        table = layout.tables.get(entity.name)
        if table is not None:
            table.wipe(conn, stream, scope)


class Replica:
    """Applies change messages to the local store, in order, exactly once."""

    def __init__(self, store: LocalStore,
                 on_hole: Callable[[str, int], None] | None = None,
                 layout: Layout | None = None, bulk_customers: bool = True) -> None:
        self.store = store
        self.layout = layout or Layout()
        self.bulk_customers = bulk_customers
        """A customers snapshot is staged part by part and swapped in (customer_snapshot);
        False: the generic path, which keeps the parts' text until the last one."""
        self.on_hole = on_hole
        self._held: dict[str, dict[int, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def log_epoch(self) -> str | None:
        return self.store.meta("log_epoch")

    def apply(self, message: dict[str, Any]) -> ApplyResult:
        """Apply a validated ``changes`` message; returns what happened."""
        stream: str = message["stream"]
        with self._lock:
            before = {name: dict(changes) for name, changes in self._held.items()}
            try:
                version, applied, duplicates = self._apply_locked(stream, message)
            except BaseException:
                self._held = before  # the transaction rolled back: keep what was held
                raise
            held = self._held.get(stream, {})
            hole = bool(held)
            result = ApplyResult(stream=stream, applied=applied, duplicates=duplicates,
                                 held=len(held), version=version, hole=hole)
        if hole:
            log.warning("stream %s: hole after version %d (holding %d later changes)",
                        stream, version, len(held))
            if self.on_hole is not None:
                self.on_hole(stream, version)
        return result

    def _apply_locked(self, stream: str, message: dict[str, Any]) -> tuple[int, int, int]:
        duplicates = 0
        with self.store.write() as conn:
            self._check_log_epoch(conn, message["log_epoch"])
            held = self._held.setdefault(stream, {})
            for change in message["changes"]:
                if len(held) < MAX_HELD:
                    held.setdefault(change["version"], change)
            row = conn.execute("SELECT version FROM streams WHERE stream = ?",
                               (stream,)).fetchone()
            version = int(row[0]) if row else 0
            for old in [v for v in held if v <= version]:
                duplicates += 1
                del held[old]
            version, applied = _drain(conn, self.layout, stream, held, version,
                                      _stream_checksum(conn, stream))
        return version, applied, duplicates

    def apply_snapshot(self, message: dict[str, Any]) -> ApplyResult:
        """Keep one part of a snapshot; with the last part, swap the stream in at once.

        Parts of one snapshot may come in any order and more than once; a newer snapshot of
        the stream replaces parts of an older one. The swap is one SQLite transaction: the
        till sees the old copy or the new one, never a mix. Changes held after the
        snapshot's version then apply in order.
        """
        stream: str = message["stream"]
        with self._lock:
            before = {name: dict(changes) for name, changes in self._held.items()}
            try:
                with self._bulk_load(stream):
                    result = self._snapshot_locked(stream, message)
            except BaseException:
                self._held = before
                raise
        if result.hole and self.on_hole is not None:
            self.on_hole(stream, result.version)
        return result

    def _snapshot_locked(self, stream: str, message: dict[str, Any]) -> ApplyResult:
        snapshot, version = message["snapshot"], int(message["version"])
        with self.store.write() as conn:
            self._check_log_epoch(conn, message["log_epoch"])
            row = conn.execute("SELECT version FROM streams WHERE stream = ?",
                               (stream,)).fetchone()
            current = int(row[0]) if row else 0
            if current > version:
                return ApplyResult(stream=stream, applied=0, duplicates=1, held=0,
                                   version=current, hole=False)  # caught up meanwhile
            newer = conn.execute("SELECT 1 FROM snapshot_parts WHERE stream = ? AND "
                                 "snapshot != ? AND version > ?",
                                 (stream, snapshot, version)).fetchone()
            if newer is not None:  # a late part of an older snapshot
                return ApplyResult(stream=stream, applied=0, duplicates=1, held=0,
                                   version=current, hole=False)
            if self._bulk(stream):
                return self._stage_customers(conn, stream, message, current)
            conn.execute("DELETE FROM snapshot_parts WHERE stream = ? AND snapshot != ?",
                         (stream, snapshot))
            conn.execute("INSERT OR IGNORE INTO snapshot_parts (stream, snapshot, part, parts, "
                         "version, body) VALUES (?, ?, ?, ?, ?, ?)",
                         (stream, snapshot, message["part"], message["parts"], version,
                          dumps({"entries": message["entries"]}).decode()))
            have = conn.execute("SELECT COUNT(*) FROM snapshot_parts WHERE stream = ? AND "
                                "snapshot = ?", (stream, snapshot)).fetchone()[0]
            if have < message["parts"]:
                return ApplyResult(stream=stream, applied=0, duplicates=0, held=0,
                                   version=current, hole=False)
            _wipe(conn, self.layout, stream)
            applied = 0
            checksum = EMPTY
            # The parts are read one at a time (no fetchall): a million customers' snapshot
            # is some 500 MB of text. Only other tables are written meanwhile.
            for (body,) in conn.execute("SELECT body FROM snapshot_parts WHERE stream = ? AND "
                                        "snapshot = ? ORDER BY part", (stream, snapshot)):
                for entry in json.loads(body, parse_float=Decimal)["entries"]:
                    checksum = combine(checksum, *_track(conn, self.layout, stream,
                                                         entry["entity"], entry["key"],
                                                         "upsert", entry["data"]))
                    applied += 1
            return self._swapped(conn, stream, message, checksum, applied)

    def _swapped(self, conn: sqlite3.Connection, stream: str, message: dict[str, Any],
                 checksum: str, applied: int) -> ApplyResult:
        """The tail of a swap: the checksum compared, the parts forgotten, the changes held
        above the snapshot's version applied."""
        version = int(message["version"])
        expected = message.get("checksum")
        if expected and expected != checksum:
            log.error("stream %s: the snapshot's entries hash to %s, central says %s",
                      stream, checksum, expected)
        conn.execute("DELETE FROM snapshot_parts WHERE stream = ?", (stream,))
        held = self._held.setdefault(stream, {})
        for old in [v for v in held if v <= version]:
            del held[old]
        version, drained = _drain(conn, self.layout, stream, held, version, checksum)
        applied += drained
        log.info("stream %s replaced by a snapshot: %d entries, now at version %d", stream,
                 applied, version)
        return ApplyResult(stream=stream, applied=applied, duplicates=0, held=len(held),
                           version=version, hole=bool(held))

    # -- the customers stream in bulk (store_agent.sync.customer_snapshot) ---------------

    @contextmanager
    def _bulk_load(self, stream: str) -> Iterator[None]:
        """For a customers snapshot's transactions: no wait for the disk at each part's
        commit (in WAL mode a power cut may lose the last parts, never tear one: the store
        asks for the snapshot again) and a larger page cache for the swap's index builds."""
        if not self._bulk(stream):
            yield
            return
        conn = self.store.connection()
        cache = conn.execute("PRAGMA cache_size").fetchone()[0]
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA cache_size={BULK_CACHE_KIB}")
        try:
            yield
        finally:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA cache_size={int(cache)}")

    def _bulk(self, stream: str) -> bool:
        """Whether a snapshot of ``stream`` is staged in bulk: the customers bucket, with the
        agent's own customer tables (a test's layout of its own takes the generic path)."""
        return (self.bulk_customers and parse_stream(stream)[0] == CUSTOMERS
                and all(self.layout.tables.get(m.entity) is m for m in CUSTOMER_MAPPINGS[:2]))

    def _stage_customers(self, conn: sqlite3.Connection, stream: str, message: dict[str, Any],
                         current: int) -> ApplyResult:
        snapshot = message["snapshot"]
        waiting = ApplyResult(stream=stream, applied=0, duplicates=0, held=0, version=current,
                              hole=False)
        stale = conn.execute("DELETE FROM snapshot_parts WHERE stream = ? AND snapshot != ?",
                             (stream, snapshot)).rowcount
        have = conn.execute("SELECT COUNT(*) FROM snapshot_parts WHERE stream = ? AND "
                            "snapshot = ?", (stream, snapshot)).fetchone()[0]
        if stale or not have:
            customer_snapshot.clear(conn)  # what is staged belongs to no part we hold
        if conn.execute("SELECT 1 FROM snapshot_parts WHERE stream = ? AND snapshot = ? AND "
                        "part = ?", (stream, snapshot, message["part"])).fetchone():
            return waiting  # a part we staged already
        customer_snapshot.stage(conn, message)
        if have + 1 < message["parts"]:
            return waiting
        conn.execute("DELETE FROM entry_hashes WHERE stream = ?", (stream,))
        bucket, scope = parse_stream(stream)
        swapped = {live for live, _staged in customer_snapshot.SWAPPED}
        for entity in self.layout.entities.in_bucket(bucket):
            table = self.layout.tables.get(entity.name)
            if table is not None and table.name not in swapped:
                table.wipe(conn, stream, scope)
        checksum, others = customer_snapshot.swap(conn, stream, snapshot)
        applied = int(conn.execute("SELECT COUNT(*) FROM customers WHERE entry_hash IS NOT NULL"
                                   ).fetchone()[0])
        for name in ("customer_cards", "points_balances"):
            applied += int(conn.execute(f"SELECT COUNT(*) FROM {name} WHERE "  # noqa: S608
                                        "entry_hash IS NOT NULL").fetchone()[0])
        for entry in others:
            checksum = combine(checksum, *_track(conn, self.layout, stream, entry["entity"],
                                                 entry["key"], "upsert", entry["data"]))
            applied += 1
        return self._swapped(conn, stream, message, checksum, applied)

    def _check_log_epoch(self, conn: sqlite3.Connection, log_epoch: str) -> None:
        current = self.store.get_meta(conn, "log_epoch")
        if current == log_epoch:
            return
        if current is not None:
            # Central's log was rebuilt: what we hold is from another history.
            log.warning("central log epoch changed (%s -> %s): dropping the local copy",
                        current, log_epoch)
            for table in self.layout.replica_tables():
                conn.execute(f"DELETE FROM {table}")  # noqa: S608
            self._held.clear()
        self.store.set_meta(conn, "log_epoch", log_epoch)

    # -- reads for the till -----------------------------------------------------------------

    def product(self, code: str) -> dict[str, Any] | None:
        """A product by barcode or SKU, with its barcodes; None if unknown."""
        with self.store.read() as conn:
            row = conn.execute("SELECT p.* FROM barcodes b JOIN products p ON p.sku = b.sku "
                               "WHERE b.code = ?", (code,)).fetchone()
            if row is None:
                row = conn.execute("SELECT * FROM products WHERE sku = ?", (code,)).fetchone()
            if row is None:
                return None
            barcodes = [r[0] for r in conn.execute(
                "SELECT code FROM barcodes WHERE sku = ? ORDER BY code", (row["sku"],))]
        return {"sku": row["sku"], "name": row["name"], "category": row["category"],
                "brand": row["brand"], "vat_rate": row["vat_rate"],
                "sale_price": row["sale_price"], "active": bool(row["active"]),
                "unit": unit_of(row["unit"]), "barcodes": barcodes}
