"""The agent's customer tables arrive by migration (7; 8 rebuilds entry_hashes); their
settings are checked at start."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rules.cards import CardRange
from store_agent.migrations import MIGRATIONS, migrate
from store_agent.settings import CustomerSettings, SettingsError


def test_a_store_at_migration_5_keeps_its_entry_hashes_and_gains_the_customer_tables(
        tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "agent.db", isolation_level=None)
    migrate(conn, tuple(m for m in MIGRATIONS if m.number <= 6))
    conn.execute("INSERT INTO entry_hashes VALUES ('catalog', 'product', 'A', '00ff00ff00ff00ff')")
    assert migrate(conn)[:2] == [7, 8]
    assert conn.execute("SELECT * FROM entry_hashes").fetchall() == [
        ("catalog", "product", "A", "00ff00ff00ff00ff")]
    ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'entry_hashes'").fetchone()[0]
    assert "WITHOUT ROWID" in ddl
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"customers", "customer_names", "customer_cards", "customer_fields",
            "customer_policies", "customer_alerts", "customer_redirects",
            "customer_local_edits", "customers_mobile", "customers_email"} <= names
    conn.close()


def test_the_customer_settings_are_read_and_a_bad_range_names_its_variable() -> None:
    assert CustomerSettings.from_env({}) == CustomerSettings("ZZ", None)
    assert CustomerSettings.from_env({"TESSERA_STORE_COUNTRY": " ro ",
                                      "TESSERA_CARD_RANGE": "2990001:1-500"}) == \
        CustomerSettings("RO", CardRange("2990001", 1, 500))
    for bad in ("2990001", "2990001:9-1", "abc:1-2", "2990001:1-x"):
        with pytest.raises(SettingsError, match="TESSERA_CARD_RANGE"):
            CustomerSettings.from_env({"TESSERA_CARD_RANGE": bad})
