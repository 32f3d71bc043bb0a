"""The agent's SQLite schema upgrades itself: numbered migrations, each in one transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from store_agent import migrations
from store_agent.migrations import MIGRATIONS, PLU_SYNC_FLAG, Migration, applied, migrate
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica_tables import REPLICA_TABLES

LATEST = MIGRATIONS[-1].number

# What an agent from before checksums and families left on disk (store_agent/sqlite_store.py
# of that time): no products.family, no streams.checksum, no fiscal tables, schema=1 in meta.
LEGACY = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE streams (stream TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE products (
    sku TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT, brand TEXT,
    vat_rate TEXT NOT NULL, sale_price TEXT NOT NULL, active INTEGER NOT NULL);
CREATE TABLE store_info (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, grp TEXT, active INTEGER NOT NULL);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, ref TEXT NOT NULL,
    body TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE prices (
    stream TEXT NOT NULL, sku TEXT NOT NULL, effective_from TEXT NOT NULL, price TEXT NOT NULL,
    PRIMARY KEY (stream, sku, effective_from));
CREATE TABLE plu_dirty (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sku TEXT NOT NULL, due_at TEXT NOT NULL);
CREATE TRIGGER plu_product_upsert AFTER INSERT ON products BEGIN
    INSERT INTO plu_dirty (sku, due_at) VALUES (NEW.sku, '');
END;
INSERT INTO meta VALUES ('epoch', 'e0e0e0'), ('schema', '1'), ('receipt_number', '41');
INSERT INTO streams VALUES ('catalog', 7), ('store-config@s:kiosk-1', 2);
INSERT INTO products VALUES ('A', 'Apple', NULL, NULL, '9.00', '0.50', 1);
INSERT INTO store_info VALUES ('kiosk-1', 'Kiosk', NULL, 1);
INSERT INTO outbox (kind, ref, body, created_at) VALUES ('sale', 'u1', '{}', '2026-01-01');
"""


def tables(path: Path) -> dict[str, set[str]]:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        result = {n: {r[1] for r in conn.execute(f"PRAGMA table_info({n})")} for n in names}
    conn.close()
    return result


def legacy_database(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(LEGACY)
    conn.close()
    return path


def test_a_new_database_gets_every_migration_and_every_table(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    assert store.meta(migrations.META_KEY) == str(LATEST)
    assert store.meta("epoch")
    held = tables(store.path)
    assert set(REPLICA_TABLES) <= set(held)
    assert {"sales", "outbox", "fiscal_jobs", "plu_dirty", "email_outbox"} <= set(held)
    assert {"family"} <= held["products"] and {"checksum"} <= held["streams"]
    assert "time_zone" in held["store_info"] and "unit" in held["products"]


def test_a_database_of_an_agent_before_migrations_is_upgraded_in_place(tmp_path: Path) -> None:
    store = LocalStore(legacy_database(tmp_path / "agent.db"))
    assert store.meta(migrations.META_KEY) == str(LATEST)
    # Recognised, not recreated: the same history, numbering and unsent sales.
    assert (store.meta("epoch"), store.meta("receipt_number")) == ("e0e0e0", "41")
    with store.read() as conn:
        assert [tuple(r) for r in conn.execute("SELECT sku, family FROM products")] == [
            ("A", None)]
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
        # The store's own config stream is fetched again (its record now has a zone); the
        # others keep their place.
        assert dict(conn.execute("SELECT stream, version FROM streams").fetchall()) == {
            "catalog": 7}
        assert conn.execute("SELECT name FROM store_info").fetchone()[0] == "Kiosk"
    held = tables(store.path)
    assert "family" in held["products"] and "checksum" in held["streams"]
    assert {"fiscal_jobs", "fiscal_z_reports", "plu_numbers", "entry_hashes"} <= set(held)


def test_plu_tracking_survives_the_upgrade_where_it_was_on(tmp_path: Path) -> None:
    store = LocalStore(legacy_database(tmp_path / "agent.db"))
    assert store.meta(PLU_SYNC_FLAG) == "on"
    with store.write() as conn:
        conn.execute("INSERT INTO products (sku, name, vat_rate, sale_price, active) "
                     "VALUES ('B', 'Bread', '9.00', '1.00', 1)")
        conn.execute("INSERT INTO prices VALUES ('prices', 'B', '', '1.10')")
    with store.read() as conn:
        # A was marked by the old trigger before the upgrade; B by the new ones after it.
        assert [r[0] for r in conn.execute("SELECT sku FROM plu_dirty ORDER BY id")] == [
            "A", "B", "B"]


def test_plu_tracking_stays_off_until_plu_sync_starts(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    with store.write() as conn:
        conn.execute("INSERT INTO products (sku, name, vat_rate, sale_price, active) "
                     "VALUES ('A', 'Apple', '9.00', '1.00', 1)")
        assert conn.execute("SELECT COUNT(*) FROM plu_dirty").fetchone()[0] == 0
        store.set_meta(conn, PLU_SYNC_FLAG, "on")
        conn.execute("INSERT OR REPLACE INTO products (sku, name, vat_rate, sale_price, "
                     "active) VALUES ('A', 'Apple', '9.00', '1.20', 1)")
        assert [r[0] for r in conn.execute("SELECT sku FROM plu_dirty")] == ["A"]


def test_opening_again_runs_nothing(tmp_path: Path) -> None:
    LocalStore(tmp_path / "agent.db").close()
    conn = sqlite3.connect(tmp_path / "agent.db", isolation_level=None)
    assert migrate(conn) == []
    assert applied(conn) == LATEST
    conn.close()


def test_a_failing_migration_leaves_nothing_and_is_run_again_next_time(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "agent.db", isolation_level=None)
    migrate(conn)
    failing = False

    def fill(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO loyalty VALUES ('x')")
        if failing:
            raise RuntimeError("power cut")

    nxt = Migration(LATEST + 1, "a table and its first row",
                    ("CREATE TABLE loyalty (code TEXT PRIMARY KEY);", fill))
    failing = True
    with pytest.raises(RuntimeError, match="power cut"):
        migrate(conn, (*MIGRATIONS, nxt))
    assert applied(conn) == LATEST
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'loyalty'").fetchone() is None
    failing = False
    assert migrate(conn, (*MIGRATIONS, nxt)) == [LATEST + 1]
    assert conn.execute("SELECT code FROM loyalty").fetchall() == [("x",)]
    conn.close()


def test_a_database_newer_than_the_agent_is_opened_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    conn = sqlite3.connect(tmp_path / "agent.db", isolation_level=None)
    migrate(conn)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'migration'", (str(LATEST + 5),))
    assert migrate(conn) == []
    assert "newer than this agent" in caplog.text
    conn.close()


def test_trigger_bodies_are_one_statement() -> None:
    parts = list(migrations.statements(migrations.PLU_TRIGGERS))
    assert len(parts) == 6 and all(p.endswith(";") for p in parts)
    assert parts[4].count("INSERT INTO plu_dirty") == 2


def test_migration_numbers_run_one_two_three_without_gaps() -> None:
    assert [m.number for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_queued_sales_of_a_customer_and_edits_are_found_by_index(tmp_path: Path) -> None:
    # A kiosk offline for a day: the points standing and the pending edits must not read
    # every queued sale (migration 15).
    from store_agent.pos.loyalty import UNSENT_SALES

    store = LocalStore(tmp_path / "agent.db")
    conn = store.connection()
    plan = " ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + UNSENT_SALES,
                                                    ("c-1",)))
    assert "USING INDEX outbox_sale_customer" in plan, plan
    plan = " ".join(str(r[3]) for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT 1 FROM outbox WHERE kind = 'customer' AND ref = ?", ("e",)))
    assert "outbox_kind_ref" in plan, plan
    store.close()
