"""Cashiers at the store (SPEC S8): signed in at the till with their code and PIN, checked
here against the argon2 hash central sent (``cashier`` entity, store-config), so signing in
works with central or the broker down.

A sale names its cashier by code; once the store knows any cashier, a sale naming someone
who is not an active cashier of this store is refused (a store central has given no
cashiers yet keeps the free-text field of older tills). The till's endpoints are
``store_agent.pos.api.cashiers``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from store_agent.sqlite_store import LocalStore

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=1)
_hasher = PasswordHasher()


class UnknownCashier(ValueError):
    """The sale names someone who is not an active cashier of this store."""


def any_known(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM cashiers LIMIT 1").fetchone() is not None


def check_sale_cashier(conn: sqlite3.Connection, code: str | None) -> None:
    """Refuse a sale by someone who is not an active cashier here (when the store has any).

    On the sale path: a sale by a known cashier costs one look-up."""
    row = None if code is None else conn.execute(
        "SELECT active FROM cashiers WHERE code = ?", (code,)).fetchone()
    if row is not None:
        if not row[0]:
            raise UnknownCashier(f"cashier {code!r} is deactivated")
        return
    if not any_known(conn):
        return
    if code is None:
        raise UnknownCashier("this store has cashiers: a sale needs the signed-in cashier")
    raise UnknownCashier(f"{code!r} is not a cashier of this store")


class Failures:
    """Wrong PINs per cashier code: after MAX_FAILURES, sign-ins wait LOCKOUT."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_code: dict[str, tuple[int, dt.datetime | None]] = {}

    def locked_until(self, code: str, now: dt.datetime) -> dt.datetime | None:
        with self._lock:
            _count, until = self._by_code.get(code, (0, None))
            return until if until is not None and until > now else None

    def failed(self, code: str, now: dt.datetime) -> None:
        with self._lock:
            count, _until = self._by_code.get(code, (0, None))
            count += 1
            self._by_code[code] = (0, now + LOCKOUT) if count >= MAX_FAILURES else (count, None)

    def succeeded(self, code: str) -> None:
        with self._lock:
            self._by_code.pop(code, None)


def sign_in(store: LocalStore, code: str, pin: str) -> dict[str, str] | None:
    """The cashier if ``pin`` is theirs and they are active here; None otherwise."""
    with store.read() as conn:
        row = conn.execute("SELECT code, name, pin_hash, active FROM cashiers WHERE code = ?",
                           (code,)).fetchone()
    if row is None or not row[3]:
        _hasher.hash(pin)  # as slow as a real check: the answer time says nothing
        return None
    try:
        _hasher.verify(row[2], pin)
    except (VerificationError, InvalidHashError):
        return None
    return {"code": row[0], "name": row[1]}
