"""The central change log: gap-free versions per stream, committed in version order."""

from __future__ import annotations

import json
import random
import threading
from decimal import Decimal

import pytest

from central.db import Database
from central.services import changelog
from protocol.checksum import EMPTY, combine, entry_hash
from protocol.streams import ALL, Scope

pytestmark = pytest.mark.integration

STORE_K = Scope("store", "kiosk-1")
GROUP_N = Scope("group", "north")


def record(db: Database, bucket: str = "catalog", scope: Scope = ALL, count: int = 1,
           key: str = "SKU-1") -> list[int]:
    """Record ``count`` changes in one transaction; return their versions."""
    with db.transaction() as session:
        return [changelog.record(session, bucket, scope, "product", key, "upsert",
                                 {"sku": key, "n": i}).version for i in range(count)]


def committed(db: Database, stream: str) -> list[int]:
    with db.sessions() as session:
        return [c.version for c in changelog.read(session, stream, 0, 10_000)]


def heads(db: Database) -> dict[str, int]:
    with db.sessions() as session:
        return changelog.heads(session)


def test_versions_start_at_one_and_have_no_gaps(central_db: Database) -> None:
    assert record(central_db, count=3) == [1, 2, 3]
    assert record(central_db) == [4]
    assert record(central_db, count=2) == [5, 6]
    assert committed(central_db, "catalog") == [1, 2, 3, 4, 5, 6]
    assert heads(central_db) == {"catalog": 6}


def test_each_stream_has_its_own_versions(central_db: Database) -> None:
    record(central_db, count=3)
    assert record(central_db, "store-config", STORE_K, count=2) == [1, 2]
    assert record(central_db, "store-config", Scope("store", "market")) == [1]
    assert record(central_db, "prices", GROUP_N) == [1]
    assert record(central_db, count=1) == [4]
    assert heads(central_db) == {"catalog": 4, "store-config@s:kiosk-1": 2,
                                 "store-config@s:market": 1, "prices@g:north": 1}


def test_a_rolled_back_transaction_consumes_no_version(central_db: Database) -> None:
    with pytest.raises(RuntimeError), central_db.transaction() as session:
        changelog.record(session, "catalog", ALL, "product", "X", "upsert", {"sku": "X"})
        raise RuntimeError("the write fails after its change was recorded")
    assert heads(central_db) == {}
    assert record(central_db) == [1]

    with pytest.raises(RuntimeError), central_db.transaction() as session:
        for _ in range(3):
            changelog.record(session, "catalog", ALL, "product", "X", "upsert", {"sku": "X"})
        raise RuntimeError("boom")
    assert record(central_db) == [2]
    assert committed(central_db, "catalog") == [1, 2]


def test_read_returns_changes_after_a_version_in_order_with_their_data(
        central_db: Database) -> None:
    record(central_db, count=5)
    with central_db.transaction() as session:
        changelog.record(session, "catalog", ALL, "product", "SKU-9", "upsert",
                         {"sku": "SKU-9", "sale_price": Decimal("1.10")})
        changelog.record(session, "catalog", ALL, "brand", "acme", "delete", None)
    with central_db.sessions() as session:
        assert [c.version for c in changelog.read(session, "catalog", 2, 2)] == [3, 4]
        rows = changelog.read(session, "catalog", 5, 100)
        assert [(c.version, c.entity, c.key, c.op) for c in rows] == [
            (6, "product", "SKU-9", "upsert"), (7, "brand", "acme", "delete")]
        assert json.loads(rows[0].data or "") == {"sku": "SKU-9", "sale_price": "1.10"}
        assert rows[1].data is None
        assert changelog.read(session, "catalog", 7, 100) == []
        assert changelog.read(session, "no-such-stream", 0, 100) == []


def test_an_uncommitted_change_is_invisible_to_readers(clean_pg_db: Database) -> None:
    # PostgreSQL only: central on SQLite (the demo) serialises every transaction.
    record(clean_pg_db)
    with clean_pg_db.transaction() as session:
        changelog.record(session, "catalog", ALL, "product", "X", "upsert", {"sku": "X"})
        assert heads(clean_pg_db) == {"catalog": 1}
        assert committed(clean_pg_db, "catalog") == [1]
    assert committed(clean_pg_db, "catalog") == [1, 2]


# -- concurrency ------------------------------------------------------------------------------

WRITERS = 16


def test_concurrent_writers_commit_versions_in_order(clean_pg_db: Database,
                                                     pg_url: str) -> None:
    """Readers never see version k+1 before k, however the writers' commits interleave."""
    db = Database(pg_url, pool_size=WRITERS + 2, max_overflow=0)
    stream = "store-config@s:kiosk-1"
    start = threading.Barrier(WRITERS + 1)
    writers_done = threading.Event()
    errors: list[BaseException] = []
    versions: list[int] = []
    snapshots: list[list[int]] = []
    polled: list[list[int]] = []

    def writer(n: int) -> None:
        rng = random.Random(n)
        try:
            start.wait()
            with db.transaction() as session:
                change = changelog.record(session, "store-config", STORE_K, "store", "kiosk-1",
                                          "upsert", {"n": n})
                # Hold the transaction open a little so that commits would overtake each
                # other if versions did not follow the commit order.
                writers_done.wait(rng.uniform(0, 0.02))
            versions.append(change.version)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def reader() -> None:
        cursor = 0
        try:
            start.wait()
            while True:
                finished = writers_done.is_set()
                with db.sessions() as session:
                    head = changelog.heads(session).get(stream, 0)
                    if head > cursor:
                        got = [c.version for c in changelog.read(session, stream, cursor, 1000)]
                        polled.append(got)
                        cursor = got[-1] if got else cursor
                    snapshots.append([c.version for c in changelog.read(session, stream, 0,
                                                                        1000)])
                if finished:
                    return
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    poller = threading.Thread(target=reader)
    try:
        for thread in [*threads, poller]:
            thread.start()
        for thread in threads:
            thread.join(30)
        writers_done.set()
        poller.join(30)
    finally:
        db.dispose()

    assert not errors, errors
    assert sorted(versions) == list(range(1, WRITERS + 1))
    assert committed(clean_pg_db, stream) == list(range(1, WRITERS + 1))
    assert len(snapshots) > 1
    for snapshot in snapshots:
        assert snapshot == list(range(1, len(snapshot) + 1)), snapshot
    # Following the head like the publisher does, one sees every version exactly once.
    seen = [v for chunk in polled for v in chunk]
    assert seen == list(range(1, WRITERS + 1))


# -- compaction and snapshots -----------------------------------------------------------------

def write(db: Database, *ops: tuple[str, str, int]) -> None:
    """(op, key, n) changes of the catalog stream, one transaction each."""
    for op, key, n in ops:
        with db.transaction() as session:
            changelog.record(session, "catalog", ALL, "product", key, op,
                             None if op == "delete" else {"sku": key, "n": n})


def live(db: Database) -> tuple[int, dict[str, int]]:
    with db.sessions() as session:
        version, checksum, rows = changelog.snapshot(session, "catalog")
        # The head's checksum is the fold of exactly the live entries.
        assert checksum == combine(EMPTY, *(entry_hash(r.entity, r.key, text=r.data)
                                            for r in rows))
        return version, {r.key: json.loads(r.data or "{}")["n"] for r in rows}


def test_a_snapshot_is_the_latest_state_of_every_live_key(central_db: Database) -> None:
    write(central_db, ("upsert", "A", 1), ("upsert", "B", 1), ("upsert", "A", 2),
          ("upsert", "C", 1), ("delete", "B", 0), ("upsert", "C", 2))
    assert live(central_db) == (6, {"A": 2, "C": 2})


def test_compaction_keeps_exactly_what_a_snapshot_needs(central_db: Database) -> None:
    write(central_db, ("upsert", "A", 1), ("upsert", "B", 1), ("upsert", "A", 2),
          ("delete", "B", 0), ("upsert", "C", 1), ("upsert", "A", 3), ("upsert", "D", 1))
    before = live(central_db)
    with central_db.transaction() as session:
        removed = changelog.compact(session, "catalog", 5)
    # Up to version 5, gone: A@1 and A@3 (superseded by A@6), B@2 (superseded by its
    # deletion) and the deletion B@4 itself; C@5 is the latest of C and stays.
    assert removed == 4
    assert committed(central_db, "catalog") == [5, 6, 7]
    assert live(central_db) == before == (7, {"A": 3, "C": 1, "D": 1})
    with central_db.sessions() as session:
        assert changelog.compacted_to(session) == {"catalog": 5}
        # Compacting again to the same point or below does nothing.
        assert changelog.compact(session, "catalog", 4) == 0
    # The stream goes on after compaction.
    assert record(central_db, key="E") == [8]


def test_the_checksum_follows_every_write_and_survives_compaction(central_db: Database) -> None:
    write(central_db, ("upsert", "A", 1))
    with central_db.sessions() as session:
        one = changelog.checksums(session)["catalog"]
    write(central_db, ("upsert", "B", 1), ("delete", "B", 0))
    with central_db.sessions() as session:
        assert changelog.checksums(session)["catalog"] == (3, one[1])  # same live state
    write(central_db, ("upsert", "A", 1))  # the same data again: the same state
    with central_db.sessions() as session:
        assert changelog.checksums(session)["catalog"][1] == one[1]
        changelog.compact(session, "catalog", 4)
        session.commit()
    live(central_db)  # asserts the fold of what is left still matches


def test_record_many_writes_what_record_writes_one_change_at_a_time(
        central_db: Database) -> None:
    """Same versions, entries and checksum: keys seen before, keys repeated within the
    batch, deletions, two entities sharing a key."""
    with central_db.transaction() as session:
        changelog.record(session, "customers", ALL, "customer", "a", "upsert", {"n": 0})
        changelog.record(session, "customers", ALL, "customer_card", "a", "upsert", {"n": 0})
        changelog.record(session, "customers", ALL, "customer", "gone", "upsert", {"n": 0})
    entries = [("customer", "a", "upsert", {"n": 1}), ("customer", "b", "upsert", {"n": 1}),
               ("customer", "a", "upsert", {"n": 2}), ("customer", "gone", "delete", None),
               ("customer_card", "a", "upsert", {"n": 3}),
               ("customer", "c", "delete", None), ("customer", "c", "upsert", {"n": 4})]
    with central_db.transaction() as session:
        first = changelog.record_many(session, "customers", ALL, entries)
        assert changelog.record_many(session, "customers", ALL, []) == 0
    with central_db.sessions() as session:
        many = [(c.version, c.entity, c.key, c.op, c.data)
                for c in changelog.read(session, "customers", 3, 100)]
        checksum = changelog.checksums(session)["customers"]
    assert first == 4
    # the same entries, one record() each, on a stream of their own
    with central_db.transaction() as session:
        for entity, key, op, data in [("customer", "a", "upsert", {"n": 0}),
                                      ("customer_card", "a", "upsert", {"n": 0}),
                                      ("customer", "gone", "upsert", {"n": 0}), *entries]:
            changelog.record(session, "customers", STORE_K, entity, key, op, data)
    with central_db.sessions() as session:
        one = [(c.version, c.entity, c.key, c.op, c.data)
               for c in changelog.read(session, "customers@s:kiosk-1", 3, 100)]
        assert changelog.checksums(session)["customers@s:kiosk-1"] == checksum
    assert many == one and [v for v, *_ in many] == list(range(4, 11))
