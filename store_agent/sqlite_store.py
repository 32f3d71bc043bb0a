"""The agent's SQLite database: the local copy of central's data, sales and the outbox.

Its schema is owned by store_agent.migrations, run when the store opens.

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

from store_agent.migrations import MIGRATIONS, Migration, migrate
from store_agent.sync.replica_tables import REPLICA_TABLES

__all__ = ["REPLICA_TABLES", "LocalStore"]

class LocalStore:
    """Opens per-thread connections to one SQLite file and owns its schema."""

    def __init__(self, path: Path, migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        migrate(self.connection(), migrations)
        with self.write() as conn:
            if self.get_meta(conn, "epoch") is None:
                # A new database is a new history: central keys our seqs by this epoch.
                self.set_meta(conn, "epoch", uuid.uuid4().hex)

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

    def limit_cache(self, kib: int) -> None:
        """Cap this thread's connection's page cache at ``kib`` KiB (SQLite's default: 2 MB).

        For the POS API's request threads: since the till's server-sent events there are 16,
        each with its own connection, and a status count scans the whole products table,
        so each kept ~2 MB of pages (+17 MB of agent RSS at 100k products over the 8
        threads of before; freeing the pages after each request did not give it back to
        the OS, the threads' malloc arenas kept it). A till's own queries touch a few
        pages; a scan reads through the OS's file cache either way.
        """
        if getattr(self._local, "cache_kib", None) != kib:
            self.connection().execute(f"PRAGMA cache_size = -{int(kib)}")
            self._local.cache_kib = kib

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            self._local.cache_kib = None

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
