"""A customers snapshot applied in bulk: a million customers in about a minute (issue 15).

The generic snapshot path (store_agent.sync.replica) keeps every part's text until the last
one, then applies each entry on its own: four statements, a schema load and an entry hash
per customer, some 1,100 customers a second and a database holding the parts' freed pages.
Here each part is staged as it arrives, in its own transaction, into tables shaped like the
live ones (``customers_staging``, ``customer_names_staging``, ``customer_cards_staging``,
migration 13) with no secondary index to maintain: one ``executemany`` per table. Only the
part's few other entries (questions, policies, alerts, redirects) and the XOR of the part's
entry hashes are kept in ``snapshot_parts``.

With the last part the swap, in one transaction, drops the live tables, renames the staged
ones into place and builds their indexes (one sort each, pages filled). The customers'
points balances (``points_balances_staging``, migration 16) come the same way. Until then the till
reads the old copy; a crash leaves the staged parts committed with their ``snapshot_parts``
rows, and a new snapshot id (what central sends after the store's next catch-up) starts the
staging again. The checksum is the same XOR of the same hashes (protocol.checksum) the
generic path computes, entry by entry: tests/unit/test_customer_snapshot.py compares both.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from protocol.checksum import EMPTY, combine, entry_hash
from protocol.encoding import WireError, dumps
from protocol.entities import ENTITIES
from store_agent.sync import customer_tables
from store_agent.sync.row_hash import to_row

log = logging.getLogger(__name__)

SWAPPED = (("customers", "customers_staging"), ("customer_names", "customer_names_staging"),
           ("customer_cards", "customer_cards_staging"),
           ("points_balances", "points_balances_staging"))
"""Each live table and the table a snapshot is staged in."""

_CUSTOMER = ENTITIES["customer"]
_CARD = ENTITIES["customer_card"]
_BALANCE = ENTITIES["points_balance"]
_TABLE_NAME = re.compile(r'^(CREATE\s+(?:VIRTUAL\s+)?TABLE\s+)(?:"[^"]+"|\w+)', re.IGNORECASE)


class BadPart(WireError):
    """A snapshot part this store refuses (an entry that does not load); nothing of it is kept."""


def clear(conn: sqlite3.Connection) -> None:
    """Forget what is staged (the parts of an abandoned snapshot)."""
    for _live, staged in SWAPPED:
        conn.execute(f"DELETE FROM {staged}")  # noqa: S608 - names of this module


def stage(conn: sqlite3.Connection, message: Mapping[str, Any]) -> None:
    """Write one part's customers and cards into the staging tables and record the part
    (with its other entries and the XOR of its hashes) in ``snapshot_parts``.

    Raises BadPart naming the part and the entry when an entry does not load: the caller's
    transaction rolls back, so nothing of the part is kept.
    """
    where = (f"snapshot {message['snapshot']} of {message['stream']}, part {message['part']} "
             f"of {message['parts']}")
    n = int(conn.execute("SELECT coalesce(max(n), 0) FROM customers_staging").fetchone()[0])
    people: list[tuple[Any, ...]] = []
    names: list[tuple[int, str]] = []
    cards: list[tuple[Any, ...]] = []
    balances: list[tuple[Any, ...]] = []
    others: list[dict[str, Any]] = []
    value = 0
    for entry in message["entries"]:
        entity, key, data = entry["entity"], entry["key"], entry["data"]
        try:
            if entity == "customer":
                loaded = _CUSTOMER.load(key, data)
                hashed = entry_hash(entity, key, data)
                customer_id, mobile, email, erased, text, name_key = \
                    customer_tables.record_row({**data, "id": str(loaded["id"])})
                n += 1
                people.append((n, customer_id, mobile, email, erased, to_row(hashed), text))
                if name_key:
                    names.append((n, name_key))
            elif entity == "customer_card":
                loaded = _CARD.load(key, data)
                hashed = entry_hash(entity, key, data)
                cards.append((loaded["number"], str(loaded["customer"]), loaded["kind"],
                              int(loaded["active"]), to_row(hashed)))
            elif entity == "points_balance":
                loaded = _BALANCE.load(key, data)
                hashed = entry_hash(entity, key, data)
                balances.append((str(loaded["customer"]), str(loaded["points"]),
                                 loaded["updated_at"], to_row(hashed)))
            else:
                others.append(dict(entry))
                continue
        except WireError as exc:
            raise BadPart(f"{where} refused: {exc}") from exc
        value ^= hashed
    conn.executemany("INSERT INTO customers_staging (n, id, mobile, email_key, erased, "
                     "entry_hash, data) VALUES (?, ?, ?, ?, ?, ?, ?)", people)
    conn.executemany("INSERT INTO customer_names_staging (rowid, key) VALUES (?, ?)", names)
    # A card twice in one snapshot: the later one stands, as in the generic path.
    conn.executemany("INSERT OR REPLACE INTO customer_cards_staging (number, customer, kind, "
                     "active, entry_hash) VALUES (?, ?, ?, ?, ?)", cards)
    conn.executemany("INSERT OR REPLACE INTO points_balances_staging (customer, points, "
                     "updated_at, entry_hash) VALUES (?, ?, ?, ?)", balances)
    conn.execute("INSERT INTO snapshot_parts (stream, snapshot, part, parts, version, body) "
                 "VALUES (?, ?, ?, ?, ?, ?)",
                 (message["stream"], message["snapshot"], message["part"], message["parts"],
                  int(message["version"]),
                  dumps({"entries": others, "checksum": f"{value:016x}"}).decode()))


def swap(conn: sqlite3.Connection, stream: str, snapshot: str
         ) -> tuple[str, list[dict[str, Any]]]:
    """Put the staged customers and cards in place of the live ones (in the caller's
    transaction) and stage afresh; returns the checksum of what was staged and the parts'
    other entries, in part order, for the caller to apply.

    Raises BadPart when the staged customers hold an id twice (the unique index refuses it):
    the caller's transaction rolls back and the old copy stands.
    """
    checksum = EMPTY
    others: list[dict[str, Any]] = []
    for (body,) in conn.execute("SELECT body FROM snapshot_parts WHERE stream = ? AND "
                                "snapshot = ? ORDER BY part", (stream, snapshot)).fetchall():
        part = json.loads(body, parse_float=Decimal)
        checksum = combine(checksum, int(part["checksum"], 16))
        others.extend(part["entries"])
    live = tuple(name for name, _staged in SWAPPED)
    marks = ", ".join("?" for _ in live)
    tables = dict(conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'table' "  # noqa: S608
                               f"AND name IN ({marks})", live).fetchall())
    indexes = [str(sql) for (sql,) in conn.execute(
        f"SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "  # noqa: S608
        f"AND tbl_name IN ({marks}) ORDER BY name", live)]
    for name, staged in SWAPPED:
        conn.execute(f"DROP TABLE {name}")
        conn.execute(f"ALTER TABLE {staged} RENAME TO {name}")
    try:
        for sql in indexes:
            conn.execute(sql)
    except sqlite3.IntegrityError as exc:
        raise BadPart(f"snapshot {snapshot} of {stream} refused: {exc} (an id twice)") from exc
    # Staged part by part, the name index is a pile of small segments (one per part's
    # commit, merged only a few at a time): a prefix query reads them all. One merge now.
    conn.execute("INSERT INTO customer_names (customer_names) VALUES ('optimize')")
    for name, staged in SWAPPED:
        sql = str(tables[name])
        head = _TABLE_NAME.match(sql)
        if head is None:
            raise AssertionError(f"the schema of {name} does not begin as a table's: {sql!r}")
        conn.execute(f"{head.group(1)}{staged}{sql[head.end():]}")
    customer_tables.replay_local(conn)
    customer_tables.replay_cards(conn)
    return checksum, others
