"""A customers snapshot in bulk (store_agent.sync.customer_snapshot): the same copy and the
same checksum as the generic path, a swap that is all or nothing, bad parts refused."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from protocol import messages
from protocol.checksum import EMPTY, combine, entry_hash
from protocol.encoding import dumps, loads
from rules.cards import loyalty_card_number
from store_agent import migrations
from store_agent.migrations import MIGRATIONS, migrate
from store_agent.pos.customers import Customers
from store_agent.settings import CustomerSettings
from store_agent.sqlite_store import LocalStore
from store_agent.sync import customer_snapshot
from store_agent.sync.customer_snapshot import BadPart
from store_agent.sync.replica import Replica

EPOCH = "e1"


def customer(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": str(uuid.UUID(int=i, version=4)), "first_name": "Ștefan",
            "last_name": f"D'Amico {i}", "mobile": f"+39347{i:07d}",
            "email": f"S{i}@Example.com", "city": "Milano", "extra": {}, "stamps": {},
            "total_spend": "120.50", "visits": 4, "observation": None, **extra}


def card(i: int) -> str:
    return loyalty_card_number("299", i + 1)


def entries(count: int, start: int = 0, balances: bool = False) -> list[dict[str, Any]]:
    """``count`` customers with a card each (and two in three a points balance), and the
    stream's other entities."""
    result: list[dict[str, Any]] = []
    for i in range(start, start + count):
        record = customer(i)
        result.append({"entity": "customer", "key": record["id"], "data": record})
        number = card(i)
        result.append({"entity": "customer_card", "key": number,
                       "data": {"number": number, "customer": record["id"],
                                "kind": "loyalty", "active": i % 5 != 0}})
        if balances and i % 3:
            result.append({"entity": "points_balance", "key": record["id"],
                           "data": {"customer": record["id"], "points": f"{i * 7}.50",
                                    "updated_at": "2026-12-02T08:00:00+00:00"}})
    result.append({"entity": "customer_field", "key": "shoe",
                   "data": {"code": "shoe", "label": "Shoe size", "kind": "number",
                            "choices": [], "position": 1, "active": True}})
    result.append({"entity": "customer_redirect", "key": customer(start)["id"][:-1] + "f",
                   "data": {"old": customer(start)["id"][:-1] + "f",
                            "survivor": customer(start)["id"]}})
    return result


def parts(items: list[dict[str, Any]], size: int, snapshot: str = "s1",
          version: int = 7) -> list[dict[str, Any]]:
    """The snapshot's parts as the agent receives them (bytes decoded and parsed)."""
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    checksum = combine(EMPTY, *(entry_hash(e["entity"], e["key"], e["data"]) for e in items))
    return [messages.parse(loads(dumps(messages.envelope(
        "snapshot", stream="customers", log_epoch=EPOCH, snapshot=snapshot, version=version,
        part=n, parts=len(chunks), entries=chunk, checksum=checksum))), "snapshot")
        for n, chunk in enumerate(chunks, 1)]


def copy(store: LocalStore) -> dict[str, Any]:
    """What the store holds of the customers stream, row number aside."""
    with store.read() as conn:
        return {
            "customers": sorted(tuple(r) for r in conn.execute(
                "SELECT id, mobile, email_key, erased, entry_hash, data FROM customers")),
            "names": sorted(tuple(r) for r in conn.execute(
                "SELECT c.id, f.key FROM customer_names f JOIN customers c ON c.n = f.rowid")),
            "cards": sorted(tuple(r) for r in conn.execute("SELECT * FROM customer_cards")),
            "balances": sorted(tuple(r) for r in conn.execute(
                "SELECT * FROM points_balances")),
            "fields": sorted(tuple(r) for r in conn.execute("SELECT * FROM customer_fields")),
            "redirects": sorted(tuple(r) for r in conn.execute(
                "SELECT * FROM customer_redirects")),
            "hashes": sorted(tuple(r) for r in conn.execute("SELECT * FROM entry_hashes")),
            "streams": sorted(tuple(r) for r in conn.execute("SELECT * FROM streams")),
            "parts": conn.execute("SELECT COUNT(*) FROM snapshot_parts").fetchone()[0],
        }


def central_checksum(items: list[dict[str, Any]]) -> str:
    return combine(EMPTY, *(entry_hash(e["entity"], e["key"], e["data"]) for e in items))


def found_by_card(store: LocalStore, number: str) -> list[str]:
    return [c["id"] for c in Customers(store, "s1", CustomerSettings("IT")).find(
        card=number).customers]


def test_bulk_and_generic_paths_hold_the_same_copy_and_checksum(tmp_path: Path) -> None:
    items = entries(40, balances=True)
    bulk, generic = LocalStore(tmp_path / "bulk.db"), LocalStore(tmp_path / "generic.db")
    for part in parts(items, 15):
        Replica(bulk).apply_snapshot(part)
        Replica(generic, bulk_customers=False).apply_snapshot(part)
    held = copy(bulk)
    assert held == copy(generic)
    assert len(held["customers"]) == 40 and len(held["cards"]) == 40
    assert len(held["balances"]) == 26 and all(b[3] is not None for b in held["balances"])
    # The hashes of customers, cards and balances sit in their rows; the few others stay.
    assert {h[1] for h in held["hashes"]} == {"customer_field", "customer_redirect"}
    assert held["streams"] == [("customers", 7, central_checksum(items))]
    assert held["parts"] == 0
    # Then a change moves both the same way: the hashes kept in the rows toggle out.
    change = {"version": 8, "entity": "customer", "key": customer(3)["id"], "op": "upsert",
              "data": customer(3, city="Roma")}
    delete = {"version": 9, "entity": "customer_card", "key": card(4), "op": "delete",
              "data": None}
    balance = {"version": 10, "entity": "points_balance", "key": customer(4)["id"],
               "op": "upsert", "data": {"customer": customer(4)["id"], "points": "3.00",
                                        "updated_at": "2026-12-02T09:00:00+00:00"}}
    for store in (bulk, generic):
        Replica(store).apply(messages.parse(messages.envelope(
            "changes", stream="customers", log_epoch=EPOCH,
            changes=[change, delete, balance])))
    after = [e for e in items if e["key"] != card(4)]
    after = [{**e, "data": change["data"]} if e["key"] == change["key"]
             and e["entity"] == "customer" else e for e in after]
    after = [{**e, "data": balance["data"]} if e["key"] == balance["key"]
             and e["entity"] == "points_balance" else e for e in after]
    assert copy(bulk) == copy(generic)
    assert ("customers", 10, central_checksum(after)) in copy(bulk)["streams"]
    assert copy(bulk)["streams"] == [("customers", 10, central_checksum(after))]


def test_the_old_copy_serves_until_the_last_part_and_parts_come_in_any_order(
        tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    replica = Replica(store)
    for part in parts(entries(3), 100, snapshot="old", version=2):
        replica.apply_snapshot(part)
    assert found_by_card(store, card(1)) == [customer(1)["id"]]
    new = parts(entries(30, start=100), 10, snapshot="new", version=5)
    assert len(new) == 7
    for part in (new[3], new[0], new[0], new[2], new[6], new[5], new[1]):  # one twice
        replica.apply_snapshot(part)
        assert found_by_card(store, card(1)) == [customer(1)["id"]]
        assert found_by_card(store, card(101)) == []
    replica.apply_snapshot(new[4])
    assert found_by_card(store, card(1)) == []
    assert found_by_card(store, card(101)) == [customer(101)["id"]]
    held = copy(store)
    assert len(held["customers"]) == 30
    assert held["streams"] == [("customers", 5, central_checksum(entries(30, start=100)))]


def test_a_crash_mid_bootstrap_loses_nothing_and_a_new_snapshot_starts_over(
        tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    store = LocalStore(path)
    for part in parts(entries(3), 100, snapshot="old", version=2):
        Replica(store).apply_snapshot(part)
    before = copy(store)
    for part in parts(entries(30, start=100), 10, snapshot="lost", version=5)[:4]:
        Replica(store).apply_snapshot(part)
    store.close()  # the agent stops: four parts of six are staged

    store = LocalStore(path)
    assert {k: v for k, v in copy(store).items() if k != "parts"} == \
        {k: v for k, v in before.items() if k != "parts"}
    # After its catch-up the store gets another snapshot: the staged parts are dropped.
    fresh = entries(12, start=200)
    for part in parts(fresh, 10, snapshot="fresh", version=6):
        Replica(store).apply_snapshot(part)
    held = copy(store)
    assert sorted(r[0] for r in held["customers"]) == sorted(
        customer(i)["id"] for i in range(200, 212))
    assert held["streams"] == [("customers", 6, central_checksum(fresh))]
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM customers_staging").fetchone()[0] == 0


def test_a_swap_that_fails_keeps_the_old_copy_and_the_staged_parts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path / "agent.db")
    for part in parts(entries(3), 100, snapshot="old", version=2):
        Replica(store).apply_snapshot(part)
    before = copy(store)
    new = parts(entries(20, start=100), 10, snapshot="new", version=5)
    for part in new[:-1]:
        Replica(store).apply_snapshot(part)

    def power_cut(conn: sqlite3.Connection) -> None:
        raise OSError("disk I/O error")

    monkeypatch.setattr(customer_snapshot.customer_tables, "replay_cards", power_cut)
    with pytest.raises(OSError):
        Replica(store).apply_snapshot(new[-1])
    assert {k: v for k, v in copy(store).items() if k != "parts"} == \
        {k: v for k, v in before.items() if k != "parts"}
    assert copy(store)["parts"] == len(new) - 1
    monkeypatch.undo()
    Replica(store).apply_snapshot(new[-1])
    assert copy(store)["streams"] == [("customers", 5, central_checksum(entries(20, 100)))]


def test_a_bad_part_is_refused_naming_it_and_nothing_of_it_is_kept(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    good = entries(20)
    bad = [dict(e) for e in good]
    bad[12] = {**bad[12], "data": {**bad[12]["data"], "visits": "many"}}
    replica = Replica(store)
    good_parts, bad_parts = parts(good, 10), parts(bad, 10)
    replica.apply_snapshot(good_parts[0])
    with pytest.raises(BadPart) as refused:
        replica.apply_snapshot(bad_parts[1])
    text = str(refused.value)
    assert "snapshot s1 of customers, part 2 of 5" in text
    assert "visits" in text and good[12]["key"] in text
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM customers_staging").fetchone()[0] == 5
        assert [r[0] for r in conn.execute("SELECT part FROM snapshot_parts")] == [1]
    for part in good_parts[1:]:
        replica.apply_snapshot(part)
    assert copy(store)["streams"] == [("customers", 7, central_checksum(good))]


def test_a_customer_twice_in_a_snapshot_is_refused_at_the_swap(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    for part in parts(entries(3), 100, snapshot="old", version=2):
        Replica(store).apply_snapshot(part)
    before = copy(store)
    items = entries(6)
    items.append(items[0])
    with pytest.raises(BadPart, match="snapshot s1 of customers refused"):
        for part in parts(items, 5):
            Replica(store).apply_snapshot(part)
    assert {k: v for k, v in copy(store).items() if k != "parts"} == \
        {k: v for k, v in before.items() if k != "parts"}


def test_a_store_s_own_pending_customer_stays_over_the_swap(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    service = Customers(store, "s1", CustomerSettings("IT"))
    made = service.create({"first_name": "Ada", "last_name": "Lovelace",
                           "mobile": "+393470000999"})
    items = entries(5)
    for part in parts(items, 4):
        Replica(store).apply_snapshot(part)
    found = service.find(mobile="+393470000999").customers
    assert [c["id"] for c in found] == [made["id"]]
    # Central's checksum counts only its own entries: the store's customer has no hash.
    assert copy(store)["streams"] == [("customers", 7, central_checksum(items))]


def test_migration_13_moves_the_hashes_into_the_rows_and_keeps_the_checksum(
        tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:12])
    items = entries(8)
    # What an agent at migration 12 held: the record with its id, a hash row per entry.
    for n, entry in enumerate(e for e in items if e["entity"] == "customer"):
        data = entry["data"]
        conn.execute("INSERT INTO customers (n, id, mobile, email_key, erased, data) "
                     "VALUES (?, ?, ?, ?, 0, ?)",
                     (n + 1, data["id"], data["mobile"], data["email"].lower(),
                      dumps({k: v for k, v in data.items() if v not in (None, {})}).decode()))
        conn.execute("INSERT INTO customer_names (rowid, key) VALUES (?, ?)",
                     (n + 1, f"stefan damico {n}"))
    for entry in items:
        if entry["entity"] == "customer_card":
            data = entry["data"]
            conn.execute("INSERT INTO customer_cards VALUES (?, ?, 'loyalty', ?)",
                         (data["number"], data["customer"], int(data["active"])))
        elif entry["entity"] == "customer_field":
            conn.execute("INSERT INTO customer_fields VALUES ('shoe', 1, 1, ?)",
                         (dumps(entry["data"]).decode(),))
        if entry["entity"] != "customer_redirect":
            conn.execute("INSERT INTO entry_hashes VALUES ('customers', ?, ?, ?)",
                         (entry["entity"], entry["key"],
                          f"{entry_hash(entry['entity'], entry['key'], entry['data']):016x}"))
    kept = [e for e in items if e["entity"] != "customer_redirect"]
    conn.execute("INSERT INTO streams VALUES ('customers', 7, ?)", (central_checksum(kept),))
    conn.execute("INSERT INTO meta VALUES ('log_epoch', ?)", (EPOCH,))
    conn.close()

    store = LocalStore(path)
    assert migrations.applied(store.connection()) == MIGRATIONS[-1].number
    held = copy(store)
    assert len(held["customers"]) == 8
    assert all(row[4] is not None for row in held["customers"] + held["cards"])
    assert [row[1] for row in held["hashes"]] == ["customer_field"]
    assert found_by_card(store, card(2)) == [customer(2)["id"]]
    delete = {"version": 8, "entity": "customer", "key": customer(2)["id"], "op": "delete",
              "data": None}
    retired = {"version": 9, "entity": "customer_card", "key": card(3), "op": "upsert",
            "data": {"number": card(3), "customer": customer(3)["id"],
                     "kind": "loyalty", "active": False}}
    Replica(store).apply(messages.parse(messages.envelope(
        "changes", stream="customers", log_epoch=EPOCH, changes=[delete, retired])))
    rest = [retired if e["key"] == retired["key"] else e for e in kept
            if e["key"] != customer(2)["id"]]
    assert copy(store)["streams"] == [("customers", 9, central_checksum(rest))]


def test_migration_16_moves_the_balances_hashes_into_their_rows_and_keeps_the_checksum(
        tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:15])
    balances = [e for e in entries(6, balances=True) if e["entity"] == "points_balance"]
    assert len(balances) == 4
    # What an agent at migration 15 held: the balance's row, its hash in entry_hashes.
    for entry in balances:
        data = entry["data"]
        conn.execute("INSERT INTO points_balances VALUES (?, ?, ?)",
                     (data["customer"], data["points"], data["updated_at"]))
        conn.execute("INSERT INTO entry_hashes VALUES ('customers', 'points_balance', ?, ?)",
                     (entry["key"],
                      f"{entry_hash(entry['entity'], entry['key'], entry['data']):016x}"))
    conn.execute("INSERT INTO streams VALUES ('customers', 7, ?)", (central_checksum(balances),))
    conn.execute("INSERT INTO meta VALUES ('log_epoch', ?)", (EPOCH,))
    conn.close()

    store = LocalStore(path)
    held = copy(store)
    assert [row[:3] for row in held["balances"]] == sorted(
        (e["key"], e["data"]["points"], e["data"]["updated_at"]) for e in balances)
    assert all(row[3] is not None for row in held["balances"])
    assert held["hashes"] == []
    gone = balances[0]["key"]
    changed = {**balances[1]["data"], "points": "1.00"}
    Replica(store).apply(messages.parse(messages.envelope(
        "changes", stream="customers", log_epoch=EPOCH, changes=[
            {"version": 8, "entity": "points_balance", "key": gone, "op": "delete",
             "data": None},
            {"version": 9, "entity": "points_balance", "key": balances[1]["key"],
             "op": "upsert", "data": changed}])))
    rest = [{**e, "data": changed} if e["key"] == balances[1]["key"] else e
            for e in balances if e["key"] != gone]
    assert copy(store)["streams"] == [("customers", 9, central_checksum(rest))]
