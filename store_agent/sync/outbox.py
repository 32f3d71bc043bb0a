"""The upstream outbox: entries for central, written in the transaction of what they record.

Every module that has something to tell central (the till's sales, the fiscaliser's
receipts, ...) calls :func:`append` with its own open write connection, so the entry is
durable exactly when the fact is. The seq (``INTEGER PRIMARY KEY AUTOINCREMENT``) is the
store's one order across kinds: SQLite has one writer, so seq order is commit order. The
uplink reads and forgets entries; nothing else touches the table.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from protocol import upstream
from protocol.encoding import dumps

Body = Mapping[str, Any] | str  # a str is the body already encoded as JSON


def _encoded(body: Body) -> str:
    return body if isinstance(body, str) else dumps(dict(body)).decode()


def _stamp(at: dt.datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("outbox times are aware (UTC)")
    return at.astimezone(dt.UTC).isoformat()


def append(conn: sqlite3.Connection, kind: str, ref: str, body: Body,
           at: dt.datetime) -> int:
    """Queue one entry of a registered ``kind`` for central; returns its seq.

    ``ref`` is the entry's id at central (a sale's UUID): what central deduplicates on
    across epochs. Raises ``protocol.upstream.UnknownEntryKind`` for an unregistered kind.
    """
    upstream.kind(kind)
    cursor = conn.execute("INSERT INTO outbox (kind, ref, body, created_at) "
                          "VALUES (?, ?, ?, ?)", (kind, ref, _encoded(body), _stamp(at)))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def append_many(conn: sqlite3.Connection,
                entries: Iterable[tuple[str, str, Body, dt.datetime]]) -> None:
    """Queue several entries (kind, ref, body, at) in their order, in one statement."""
    rows = []
    for kind, ref, body, at in entries:
        upstream.kind(kind)
        rows.append((kind, ref, _encoded(body), _stamp(at)))
    conn.executemany("INSERT INTO outbox (kind, ref, body, created_at) VALUES (?, ?, ?, ?)",
                     rows)


def head(conn: sqlite3.Connection) -> int:
    """The highest seq ever given (0 for none), even once its entry was forgotten."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    return int(row[0]) if row else 0


def pending(conn: sqlite3.Connection) -> int:
    """Entries central has not acknowledged yet."""
    return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def renumber(conn: sqlite3.Connection) -> int:
    """Number the remaining entries again from seq 1, in their order (a new epoch);
    returns how many there are."""
    rows = conn.execute("SELECT kind, ref, body, created_at FROM outbox "
                        "ORDER BY seq").fetchall()
    conn.execute("DELETE FROM outbox")
    conn.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox'")
    conn.executemany("INSERT INTO outbox (kind, ref, body, created_at) "
                     "VALUES (?, ?, ?, ?)", [tuple(r) for r in rows])
    return len(rows)
