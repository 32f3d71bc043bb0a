"""The agent's SQLite database: the local copy of central's data, sales and the outbox.

WAL with synchronous=FULL: a sale the till saw as done survives a power cut. One
connection per thread; writers take the lock up front (BEGIN IMMEDIATE) so that two
writers queue instead of failing to upgrade.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS streams (stream TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS categories (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, parent TEXT, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS brands (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT, brand TEXT,
    vat_rate TEXT NOT NULL, sale_price TEXT NOT NULL, active INTEGER NOT NULL, family TEXT);
CREATE TABLE IF NOT EXISTS barcodes (code TEXT PRIMARY KEY, sku TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS barcodes_sku ON barcodes (sku);
CREATE TABLE IF NOT EXISTS store_info (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, grp TEXT, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sales (
    uuid TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, request_hash TEXT NOT NULL,
    result TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS families (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS prices (
    stream TEXT NOT NULL, sku TEXT NOT NULL, effective_from TEXT NOT NULL, price TEXT NOT NULL,
    PRIMARY KEY (stream, sku, effective_from));
CREATE INDEX IF NOT EXISTS prices_sku ON prices (sku);
CREATE TABLE IF NOT EXISTS policies (
    code TEXT PRIMARY KEY, kind TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS partner_programmes (
    code TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS partner_cards (
    programme TEXT NOT NULL, first TEXT NOT NULL, last TEXT NOT NULL, active INTEGER NOT NULL,
    PRIMARY KEY (programme, first, last));
CREATE INDEX IF NOT EXISTS partner_cards_first ON partner_cards (first);
CREATE TABLE IF NOT EXISTS vip_cards (code TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS receipt_profiles (scope TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS email_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sale_uuid TEXT NOT NULL UNIQUE, to_addr TEXT NOT NULL,
    sender TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL, logo_png TEXT,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    next_attempt_at TEXT NOT NULL, created_at TEXT NOT NULL, sent_at TEXT);
CREATE TABLE IF NOT EXISTS entry_hashes (
    stream TEXT NOT NULL, entity TEXT NOT NULL, key TEXT NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (stream, entity, key));
CREATE TABLE IF NOT EXISTS snapshot_parts (
    stream TEXT NOT NULL, snapshot TEXT NOT NULL, part INTEGER NOT NULL, parts INTEGER NOT NULL,
    version INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (stream, snapshot, part));
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, ref TEXT NOT NULL,
    body TEXT NOT NULL, created_at TEXT NOT NULL);
"""

REPLICA_TABLES = ("categories", "brands", "families", "products", "barcodes", "store_info",
                  "prices", "policies", "partner_programmes", "partner_cards", "vip_cards",
                  "receipt_profiles", "snapshot_parts", "entry_hashes", "streams")


class LocalStore:
    """Opens per-thread connections to one SQLite file and owns its schema."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = self.connection()
        conn.executescript(SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(products)")}
        if "family" not in columns:
            conn.execute("ALTER TABLE products ADD COLUMN family TEXT")
        if "unit" not in columns:
            # Products from before units: NULL reads as piece (rules.pricing.unit_of).
            conn.execute("ALTER TABLE products ADD COLUMN unit TEXT")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(streams)")}
        if "checksum" not in columns:
            # Databases from before checksums: an empty checksum differs from central's, so
            # the first comparison sends a snapshot that fills entry_hashes in.
            conn.execute("ALTER TABLE streams ADD COLUMN checksum TEXT")
        with self.write() as conn:
            if self.get_meta(conn, "epoch") is None:
                # A new database is a new history: central keys our seqs by this epoch.
                self.set_meta(conn, "epoch", uuid.uuid4().hex)
                self.set_meta(conn, "schema", str(SCHEMA_VERSION))

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30,
                                   check_same_thread=True)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed at the end of the block, rolled back on error."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for the whole block."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- meta -------------------------------------------------------------------------------

    @staticmethod
    def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def meta(self, key: str) -> str | None:
        with self.read() as conn:
            return self.get_meta(conn, key)

    def bump_meta(self, key: str) -> int:
        """Increment an integer in meta and return the new value (durably)."""
        with self.write() as conn:
            value = int(self.get_meta(conn, key) or "0") + 1
            self.set_meta(conn, key, str(value))
        return value

    # -- streams ----------------------------------------------------------------------------

    def stream_state(self) -> tuple[dict[str, int], dict[str, str]]:
        """Versions and checksums of every stream, read together (one snapshot)."""
        with self.read() as conn:
            rows = conn.execute("SELECT stream, version, checksum FROM streams").fetchall()
        return ({str(r[0]): int(r[1]) for r in rows},
                {str(r[0]): str(r[2]) for r in rows if r[2] is not None})

    def stream_versions(self) -> dict[str, int]:
        with self.read() as conn:
            return {str(r[0]): int(r[1]) for r in conn.execute("SELECT stream, version "
                                                                "FROM streams")}
