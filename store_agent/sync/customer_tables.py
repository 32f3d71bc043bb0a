"""Where the customers bucket lives in the agent's SQLite database (tables: migration 6).

Central's record of a customer is kept in its wire form (``customers.data``), with the
columns the till looks up by: the E.164 mobile, the folded e-mail, and the folded name in
the FTS5 table ``customer_names`` (rowid = ``customers.n``, which an update keeps).

This store's own edits that central has not confirmed yet (``customer_local_edits``, whose
outbox entry is still queued) are laid over central's record whenever it changes, field by
field under the registry's rule (rules.customers.history: the later stamp wins), so a
change or snapshot from central never hides a customer made here a minute ago. Once
central has acknowledged the edit it is central's record that says what won.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from protocol.encoding import dumps
from rules.customers.contact import email_key, search_key
from rules.customers.history import is_personal

CONSENTS = ("consent_email", "consent_sms")


def parse_stamp(text: str | None) -> tuple[datetime, str, str] | None:
    """``{at}|{store}|{edit id}`` (central's ``stamps``) as a comparable tuple."""
    if not text:
        return None
    try:
        at, store, edit_id = text.split("|", 2)
        return datetime.fromisoformat(at), store, edit_id
    except ValueError:
        return None


def format_stamp(stamp: Mapping[str, str]) -> str:
    return f"{stamp['at']}|{stamp['store']}|{stamp['edit_id']}"


RECORD = "c.id, c.mobile, c.email_key, c.data"
"""The columns :func:`record_from` reads, of ``customers c``."""


def record_from(row: tuple[Any, ...] | sqlite3.Row) -> dict[str, Any]:
    """A customer's record (wire form, blank fields left out) from its :data:`RECORD`
    columns: ``data`` without what the row's columns hold already (:func:`record_row`)."""
    record: dict[str, Any] = json.loads(row[3])
    record["id"] = row[0]
    if row[1] is not None and "mobile" not in record:
        record["mobile"] = row[1]
    if row[2] is not None and "email" not in record:
        record["email"] = row[2]
    return record


def record_of(conn: sqlite3.Connection, customer_id: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {RECORD} FROM customers c WHERE c.id = ?",  # noqa: S608
                       (customer_id,)).fetchone()
    return None if row is None else record_from(row)


def record_row(record: Mapping[str, Any]) -> tuple[str, str | None, str | None, int, str, str]:
    """One customer's record (wire form) as its ``customers`` row: (id, mobile, e-mail key,
    erased, data) and its folded name key for ``customer_names`` (empty: none).

    ``data`` leaves out, a million customers' worth: blank fields (a reader's .get gives
    None), the id, and the mobile and e-mail where the row's columns hold them as they are
    (:func:`record_from` puts them back).
    """
    customer_id = str(record["id"])
    email = record.get("email")
    mobile = record.get("mobile") or None
    key_of_email = email_key(email) if isinstance(email, str) and email else None
    kept = {k: v for k, v in record.items() if v is not None and v != {} and v != ""}
    kept.pop("id", None)
    if mobile is not None and kept.get("mobile") == mobile:
        del kept["mobile"]
    if key_of_email is not None and kept.get("email") == key_of_email:
        del kept["email"]
    return (customer_id, mobile, key_of_email, int(bool(record.get("erased"))),
            dumps(kept).decode(), search_key(record.get("first_name"), record.get("last_name")))


def write_record(conn: sqlite3.Connection, record: Mapping[str, Any]) -> None:
    """Store one customer's record (wire form) with its lookup columns and name key; the
    row keeps central's entry hash (``entry_hash``) if it had one."""
    customer_id, mobile, key_of_email, erased, data, key = record_row(record)
    n = conn.execute(
        "INSERT INTO customers (id, mobile, email_key, erased, data) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET mobile = excluded.mobile, "
        "email_key = excluded.email_key, erased = excluded.erased, data = excluded.data "
        "RETURNING n", (customer_id, mobile, key_of_email, erased, data)).fetchone()[0]
    conn.execute("DELETE FROM customer_names WHERE rowid = ?", (n,))
    if key:
        conn.execute("INSERT INTO customer_names (rowid, key) VALUES (?, ?)", (n, key))


def pending_edits(conn: sqlite3.Connection, customer_id: str | None = None
                  ) -> list[dict[str, Any]]:
    """This store's edits still queued for central (of one customer, or all), oldest
    first. (One indexed look-up when there are none: a snapshot of a million customers
    asks once per customer.)"""
    pending = ("SELECT e.body FROM customer_local_edits e WHERE EXISTS (SELECT 1 FROM outbox o "
               "WHERE o.kind = 'customer' AND o.ref = e.edit_id)")
    if customer_id is None:
        rows = conn.execute(pending + " ORDER BY e.at, e.edit_id")
    else:
        rows = conn.execute(pending + " AND e.customer = ? ORDER BY e.at, e.edit_id",
                            (customer_id,))
    return [json.loads(r[0]) for r in rows.fetchall()]


def forget_confirmed(conn: sqlite3.Connection) -> None:
    """Drop the local edits central has acknowledged (their outbox entry is gone)."""
    conn.execute("DELETE FROM customer_local_edits WHERE edit_id NOT IN "
                 "(SELECT ref FROM outbox WHERE kind = 'customer')")


def overlay(record: dict[str, Any] | None, edit: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` (wire form, or None for a customer central does not know yet) with a
    local ``edit`` laid over it field by field: a field takes the edit's value when no
    later stamp set it. An erased customer keeps its personal fields blank."""
    result = dict(record) if record is not None else {"id": edit["customer"], "extra": {}}
    stamps = dict(result.get("stamps") or {})
    extra = dict(result.get("extra") or {})
    mine = format_stamp(edit["stamp"])
    ours = parse_stamp(mine)
    for name, value in edit["changes"].items():
        if result.get("erased") and is_personal(name):
            continue
        theirs = parse_stamp(stamps.get(name))
        if theirs is not None and ours is not None and theirs >= ours:
            continue
        if name.startswith("extra."):
            extra[name.removeprefix("extra.")] = value
        elif name in CONSENTS:  # flat in central's record: granted, _at, _store
            given = value if isinstance(value, Mapping) else {}
            result[name] = given.get("granted") if given else None
            result[f"{name}_at"] = given.get("at")
            result[f"{name}_store"] = given.get("store")
        else:
            result[name] = value
        stamps[name] = mine
    result["extra"] = extra
    result["stamps"] = stamps
    return result


def apply_cards(conn: sqlite3.Connection, edit: Mapping[str, Any]) -> None:
    """The cards a local edit adds (unless central gave the number to someone) or retires."""
    customer = str(edit["customer"])
    for card in edit.get("add_cards") or ():
        conn.execute("INSERT OR IGNORE INTO customer_cards (number, customer, kind, active) "
                     "VALUES (?, ?, ?, 1)", (card["number"], customer, card["kind"]))
    for number in edit.get("retire_cards") or ():
        conn.execute("UPDATE customer_cards SET active = 0 WHERE number = ? AND customer = ?",
                     (number, customer))


def replay_local(conn: sqlite3.Connection, customer_id: str | None = None) -> None:
    """Lay this store's pending edits (of one customer, or all) over what central sent."""
    for edit in pending_edits(conn, customer_id):
        write_record(conn, overlay(record_of(conn, str(edit["customer"])), edit))
        apply_cards(conn, edit)


def upsert_customer(conn: sqlite3.Connection, raw: Mapping[str, Any], customer_id: str) -> None:
    """Central's record of a customer, with this store's pending edits laid over it."""
    write_record(conn, {**raw, "id": customer_id})
    replay_local(conn, customer_id)


def delete_customer(conn: sqlite3.Connection, customer_id: str | None) -> None:
    row = conn.execute("SELECT n FROM customers WHERE id = ?", (customer_id,)).fetchone()
    if row is not None:
        conn.execute("DELETE FROM customer_names WHERE rowid = ?", (row[0],))
        conn.execute("DELETE FROM customers WHERE n = ?", (row[0],))
    if customer_id is not None:
        replay_local(conn, customer_id)


def wipe_customers(conn: sqlite3.Connection) -> None:
    """Before a snapshot: forget central's customers, keep this store's pending ones."""
    conn.execute("DELETE FROM customers")
    conn.execute("DELETE FROM customer_names")
    replay_local(conn)


def wipe_cards(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM customer_cards")
    replay_cards(conn)


def replay_cards(conn: sqlite3.Connection) -> None:
    """Lay the cards of this store's pending edits over what central sent."""
    for edit in pending_edits(conn):
        apply_cards(conn, edit)
