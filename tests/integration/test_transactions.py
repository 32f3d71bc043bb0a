"""A request aborted by a real PostgreSQL deadlock is run again and succeeds."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text

from central.app import create_app
from central.db import Database
from central.transactions import db_session, transactional

pytestmark = pytest.mark.integration


def test_two_writers_locking_in_opposite_orders_both_succeed(clean_pg_db: Database) -> None:
    with clean_pg_db.transaction() as session:
        session.execute(text("INSERT INTO stream_heads (stream, version) VALUES "
                             "('lock-a', 0), ('lock-b', 0)"))
    app = create_app({"DATABASE": clean_pg_db, "TESTING": True})
    both_hold_one = threading.Barrier(2, timeout=10)
    attempts: list[str] = []

    @transactional
    def bump(first: str, second: str) -> Any:
        session = db_session()
        attempts.append(first)
        session.execute(text("UPDATE stream_heads SET version = version + 1 "
                             "WHERE stream = :s"), {"s": first})
        if attempts.count(first) == 1:
            both_hold_one.wait()  # the first attempts cross: a certain deadlock
        session.execute(text("UPDATE stream_heads SET version = version + 1 "
                             "WHERE stream = :s"), {"s": second})
        return {"ok": True}

    results: dict[str, int] = {}

    def call(first: str, second: str) -> None:
        with app.test_request_context():
            try:
                bump(first, second)
                results[first] = 200
            except Exception:  # noqa: BLE001 - recorded for the assertion
                results[first] = 500

    threads = [threading.Thread(target=call, args=pair)
               for pair in (("lock-a", "lock-b"), ("lock-b", "lock-a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {"lock-a": 200, "lock-b": 200}
    assert len(attempts) == 3  # one of the two ran twice
    with clean_pg_db.sessions() as session:
        versions = dict(session.execute(text(
            "SELECT stream, version FROM stream_heads WHERE stream LIKE 'lock-%'")).all())
    assert versions == {"lock-a": 2, "lock-b": 2}  # the aborted attempt left nothing
