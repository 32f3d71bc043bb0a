"""The store's copy of central's data: changes applied in order, exactly once."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import messages
from protocol.checksum import entry_hash
from protocol.encoding import WireError, dumps
from protocol.entities import ENTITIES
from protocol.streams import parse_stream
from store_agent.sqlite_store import REPLICA_TABLES, LocalStore
from store_agent.sync.replica import Replica
from store_agent.sync.replica_tables import TABLES
from store_agent.sync.row_hash import to_row

EPOCH_A = "a" * 32
EPOCH_B = "b" * 32


def product(sku: str, price: str = "1.00", barcodes: tuple[str, ...] = (), active: bool = True,
            name: str | None = None) -> dict[str, Any]:
    return {"sku": sku, "name": name or f"Product {sku}", "category": None, "brand": None,
            "vat_rate": "21.00", "sale_price": price, "active": active,
            "barcodes": list(barcodes)}


def upsert(version: int, entity: str, data: dict[str, Any]) -> dict[str, Any]:
    key = data["sku"] if entity == "product" else data["code"]
    return {"version": version, "entity": entity, "key": key, "op": "upsert", "data": data}


def delete(version: int, entity: str, key: str) -> dict[str, Any]:
    return {"version": version, "entity": entity, "key": key, "op": "delete", "data": None}


def changes(*items: dict[str, Any], stream: str = "catalog",
            log_epoch: str = EPOCH_A) -> dict[str, Any]:
    """A ``changes`` message as the agent receives it: encoded rules applied by parse()."""
    return messages.parse(messages.envelope("changes", stream=stream, log_epoch=log_epoch,
                                            changes=list(items)), "changes")


def state(store: LocalStore) -> dict[str, list[tuple[Any, ...]]]:
    """Everything the replica holds, in a comparable form."""
    with store.read() as conn:
        return {table: sorted((tuple(row) for row in conn.execute(
                    f"SELECT * FROM {table}")), key=repr)  # noqa: S608
                for table in REPLICA_TABLES}


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "agent.db")


@pytest.fixture
def holes() -> list[tuple[str, int]]:
    return []


@pytest.fixture
def replica(store: LocalStore, holes: list[tuple[str, int]]) -> Replica:
    return Replica(store, on_hole=lambda stream, version: holes.append((stream, version)))


def test_changes_are_applied_in_order(replica: Replica, store: LocalStore) -> None:
    result = replica.apply(changes(upsert(1, "product", product("A", "1.00")),
                                   upsert(2, "product", product("A", "2.50")),
                                   upsert(3, "product", product("B", "3.00", ("96385074",)))))
    assert (result.applied, result.duplicates, result.version, result.hole) == (3, 0, 3, False)
    assert store.stream_versions() == {"catalog": 3}
    assert replica.product("A")["sale_price"] == "2.50"  # type: ignore[index]
    assert replica.product("96385074")["sku"] == "B"  # type: ignore[index]


# One sample of every entity of the protocol: (stream, data, key, the rows it leaves).
CUSTOMER: dict[str, Any] = {"id": "11111111-1111-4111-8111-111111111111",
                            "first_name": "Jürgen", "last_name": "Müller",
                            "mobile": "+393471234567", "email": "jm@Example.com",
                            "extra": {}, "stamps": {}}
CARD: dict[str, Any] = {"number": "2990000000019", "customer": CUSTOMER["id"], "kind": "loyalty",
                        "active": True}

BALANCE = {"customer": CUSTOMER["id"], "points": "120.50",
           "updated_at": "2026-11-22T08:00:00+00:00"}
SAMPLES: dict[str, tuple[str, dict[str, Any], str, dict[str, list[tuple[Any, ...]]]]] = {
    "category": ("catalog", {"code": "food", "name": "Food", "parent": None, "active": True},
                 "food", {"categories": [("food", "Food", None, 1)]}),
    "brand": ("catalog", {"code": "acme", "name": "Acme", "active": True}, "acme",
              {"brands": [("acme", "Acme", 1)]}),
    "family": ("catalog", {"code": "cola", "name": "Colas", "active": False}, "cola",
               {"families": [("cola", "Colas", 0)]}),
    "product": ("catalog", {**product("A", "1.50", ("96385074",)), "category": "food",
                            "brand": "acme", "family": "cola", "unit": "kg",
                            "points_generated": "2.50"}, "A",
                {"products": [("A", "Product A", "food", "acme", "21.00", "1.50", 1, "cola",
                               "kg", "2.50")],
                 "barcodes": [("96385074", "A")]}),
    "store": ("store-config@s:kiosk-1", {"code": "kiosk-1", "name": "Kiosk", "group": "north",
                                         "active": True, "time_zone": "Europe/Rome"},
              "kiosk-1", {"store_info": [("kiosk-1", "Kiosk", "north", 1, "Europe/Rome")]}),
    "receipt_profile": ("store-config@s:kiosk-1", {"scope": "kiosk-1", "version": 2,
                                                    "header": ["Kiosk"], "footer": None},
                        "kiosk-1", {"receipt_profiles": [
                            ("kiosk-1", '{"footer":null,"header":["Kiosk"],"scope":"kiosk-1",'
                                        '"version":2}')]}),
    "cashier": ("store-config@s:kiosk-1", {"code": "anna", "name": "Anna Rossi",
                                           "pin_hash": "$argon2id$v=19$m=65536,t=3,p=4$x",
                                           "active": True},
                "anna", {"cashiers": [("anna", "Anna Rossi", "$argon2id$v=19$m=65536,t=3,p=4$x",
                                       1)]}),
    "instruction": ("store-config@s:kiosk-1", {
        "id": "7", "text": "Check the yoghurts", "scroll": True,
        "valid_from": "2026-11-22T08:00:00+00:00", "valid_until": None, "cashier": None},
        "7", {"instructions": [("7", "Check the yoghurts", 1, "2026-11-22T08:00:00+00:00",
                                None, None)]}),
    "seller_message": ("store-config@s:kiosk-1", {"store": "kiosk-1", "text": "Ask the e-mail"},
                       "kiosk-1", {"seller_messages": [("kiosk-1", "Ask the e-mail")]}),
    "survey": ("store-config@s:kiosk-1", {
        "store": "kiosk-1", "code": "autumn", "name": "Autumn",
        "questions": [{"code": "how", "text": "How?", "choices": [
            {"code": "1", "text": "A friend"}, {"code": "2", "text": "The web"}]}]},
        "kiosk-1", {"surveys": [("kiosk-1", "autumn",
                                 '{"code":"autumn","name":"Autumn","questions":[{"choices":'
                                 '[{"code":"1","text":"A friend"},{"code":"2","text":"The web"}]'
                                 ',"code":"how","text":"How?"}],"store":"kiosk-1"}')]}),
    "display_content": ("store-config@s:kiosk-1", {
        "store": "kiosk-1", "source": "group north",
        "items": [{"kind": "url", "src": "https://shop/offers", "seconds": 20}]},
        "kiosk-1", {"display_content": [("kiosk-1", '{"items":[{"kind":"url","seconds":20,'
                                                    '"src":"https://shop/offers"}],'
                                                    '"source":"group north","store":"kiosk-1"}')]}),
    "price": ("prices@s:kiosk-1", {"sku": "A", "price": "1.25",
                                   "effective_from": "2026-01-01T00:00:00+00:00"},
              "A|2026-01-01T00:00:00+00:00",
              {"prices": [("prices@s:kiosk-1", "A", "2026-01-01T00:00:00+00:00", "1.25")]}),
    "policy": ("policies", {"code": "no-tobacco", "kind": "exclusion", "name": "No tobacco",
                            "version": 3, "active": True,
                            "target": {"kind": "category", "codes": ["tobacco"]}},
               "no-tobacco", {"policies": [(
                   "no-tobacco", "exclusion", 3,
                   '{"active":true,"code":"no-tobacco","kind":"exclusion","name":"No tobacco",'
                   '"target":{"codes":["tobacco"],"kind":"category"},"version":3}')]}),
    "partner_programme": ("partners", {"code": "UNION", "name": "Union", "percent": "5.00",
                                       "version": 1, "active": True, "stores": [],
                                       "groups": [], "valid_from": None, "valid_until": None},
                          "UNION", {"partner_programmes": [(
                              "UNION", 1, '{"active":true,"code":"UNION","groups":[],'
                              '"name":"Union","percent":"5.00","stores":[],'
                              '"valid_from":null,"valid_until":null,"version":1}')]}),
    "partner_card": ("partners", {"programme": "UNION", "first": "7700000000000",
                                  "last": "7700000000099", "holder": None, "active": True},
                     "UNION|7700000000000|7700000000099",
                     {"partner_cards": [("UNION", "7700000000000", "7700000000099", 1)]}),
    "vip_card": ("partners", {"code": "#VIP#1", "customer": "Ada", "percent": "10.00",
                              "valid_until": None, "active": True, "version": 1}, "#VIP#1",
                 {"vip_cards": [("#VIP#1", '{"active":true,"code":"#VIP#1","customer":"Ada",'
                                 '"percent":"10.00","valid_until":null,"version":1}')]}),
    "loyalty_profile": ("loyalty", {"code": "BASE", "description": "Standard",
                                    "default": True, "card_prefix": "29",
                                    "alternative_prefixes": [], "ean_prefix": None,
                                    "discount_percent": "0.00", "version": 2,
                                    "accrual": {"threshold": "1"},
                                    "redemption": {"bands": [{"ratio": "30"}]}}, "BASE",
                        {"loyalty_profiles": [(
                            "BASE", 2, '{"accrual":{"threshold":"1"},"alternative_prefixes":[],'
                            '"card_prefix":"29","code":"BASE","default":true,'
                            '"description":"Standard","discount_percent":"0.00",'
                            '"ean_prefix":null,"redemption":{"bands":[{"ratio":"30"}]},'
                            '"version":2}')]}),
    "loyalty_level": ("loyalty", {"code": "L1", "name": "First", "points": "10.00"}, "L1",
                      {"loyalty_levels": [("L1", "First", "10.00")]}),
    "loyalty_gift": ("loyalty", {"sku": "A", "level": "L1", "points": None,
                                 "level_points": "10.00"}, "A",
                     {"loyalty_gifts": [("A", "L1", None)]}),
    "points_value": ("loyalty", {"profile": "BASE", "sku": "A", "points": "64.00",
                                 "basis": "cost", "cost": "2.150000", "markup": "137.2093",
                                 "ratio": "30.00", "profile_version": 2}, "BASE|A",
                     {"points_values": [("BASE", "A", "64.00")]}),
    "customer": ("customers", CUSTOMER, CUSTOMER["id"], {
        # Central's entry hash sits in the row (migration 13), as SQLite's signed integer.
        "customers": [(1, CUSTOMER["id"], "+393471234567", "jm@example.com", 0,
                       to_row(entry_hash("customer", CUSTOMER["id"], CUSTOMER)),
                       # data without what the columns hold (the id, the mobile as it is)
                       dumps({k: v for k, v in CUSTOMER.items()
                              if v != {} and k not in ("id", "mobile")}).decode())],
        "customer_names": [("jurgen muller",)]}),
    "customer_card": ("customers", CARD, "2990000000019",
                      {"customer_cards": [("2990000000019", CUSTOMER["id"], "loyalty", 1,
                                           to_row(entry_hash("customer_card", "2990000000019",
                                                             CARD)))]}),
    "customer_field": ("customers", {"code": "shoe", "label": "Shoe size", "kind": "number",
                                     "choices": [], "position": 2, "active": True}, "shoe",
                       {"customer_fields": [(
                           "shoe", 2, 1, '{"active":true,"choices":[],"code":"shoe",'
                           '"kind":"number","label":"Shoe size","position":2}')]}),
    "customer_policy": ("customers", {"scope": "default", "mandatory": ["mobile"]}, "default",
                        {"customer_policies": [
                            ("default", '{"mandatory":["mobile"],"scope":"default"}')]}),
    "customer_alert": ("customers", {"code": "mail", "position": 1,
                                     "condition": "email is empty", "message": "Ask",
                                     "active": True}, "mail",
                       {"customer_alerts": [(
                           "mail", 1, 1, '{"active":true,"code":"mail","condition":'
                           '"email is empty","message":"Ask","position":1}')]}),
    "customer_redirect": ("customers", {"old": CUSTOMER["id"],
                                        "survivor": "22222222-2222-4222-8222-222222222222"},
                          CUSTOMER["id"], {"customer_redirects": [(
                              CUSTOMER["id"], "22222222-2222-4222-8222-222222222222")]}),
    "points_balance": ("customers", BALANCE, CUSTOMER["id"], {"points_balances": [
        # Central's hash in the row (migration 16).
        (CUSTOMER["id"], "120.50", "2026-11-22T08:00:00+00:00",
         to_row(entry_hash("points_balance", CUSTOMER["id"], BALANCE)))]}),
}


def test_the_samples_cover_every_entity_of_the_protocol() -> None:
    assert set(SAMPLES) == {entity.name for entity in ENTITIES}
    for name, (stream, data, key, _rows) in SAMPLES.items():
        entity = ENTITIES[name]
        assert parse_stream(stream)[0] == entity.bucket
        assert entity.key_of(data) == key
        assert TABLES.get(name) is not None, f"{name} has no agent table"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_entity_of_the_protocol_is_stored_and_deleted(replica: Replica, name: str) -> None:
    stream, data, key, rows = SAMPLES[name]
    change = {"version": 1, "entity": name, "key": key, "op": "upsert", "data": data}
    replica.apply(changes(change, stream=stream))
    held = state(replica.store)
    for table, expected in rows.items():
        assert held[table] == expected, table
    replica.apply(changes({"version": 2, "entity": name, "key": key, "op": "delete",
                           "data": None}, stream=stream))
    held = state(replica.store)
    for table in rows:
        assert held[table] == [], table
    assert held["entry_hashes"] == []
    assert replica.store.stream_versions() == {stream: 2}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_snapshot_of_each_entitys_stream_replaces_what_it_held(store: LocalStore,
                                                                  name: str) -> None:
    stream, data, key, rows = SAMPLES[name]
    replica = Replica(store)
    replica.apply(changes({"version": 1, "entity": name, "key": key, "op": "upsert",
                           "data": data}, stream=stream))
    replica.apply_snapshot(messages.parse(messages.envelope(
        "snapshot", stream=stream, log_epoch=EPOCH_A, snapshot="s1", version=5, part=1,
        parts=1, entries=[]), "snapshot"))
    held = state(store)
    for table in rows:
        assert held[table] == [], table
    assert store.stream_versions() == {stream: 5}


def test_a_change_that_does_not_fit_its_schema_is_refused_naming_the_field(
        replica: Replica) -> None:
    bad = {"version": 1, "entity": "price", "key": "A|-", "op": "upsert",
           "data": {"sku": "A", "price": "one euro"}}
    with pytest.raises(WireError, match=r"invalid price 'A\|-'.*'price'"):
        replica.apply(changes(bad, stream="prices"))
    assert replica.store.stream_versions() == {}


def test_every_entity_of_the_protocol_is_stored(replica: Replica) -> None:
    replica.apply(changes(
        upsert(1, "category", {"code": "food", "name": "Food", "parent": None, "active": True}),
        upsert(2, "brand", {"code": "acme", "name": "Acme", "active": True}),
        upsert(3, "product", {**product("A"), "category": "food", "brand": "acme"})))
    replica.apply(changes(upsert(1, "store", {"code": "kiosk-1", "name": "Kiosk",
                                              "group": "north", "active": True}),
                          stream="store-config@s:kiosk-1"))
    with replica.store.read() as conn:
        def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in conn.execute(sql)]

        assert rows("SELECT code, name, parent, active FROM categories") == [
            ("food", "Food", None, 1)]
        assert rows("SELECT code, name, active FROM brands") == [("acme", "Acme", 1)]
        assert rows("SELECT sku, name, category, brand, vat_rate, sale_price, active "
                    "FROM products") == [("A", "Product A", "food", "acme", "21.00", "1.00", 1)]
        assert rows("SELECT code, name, grp, active FROM store_info") == [
            ("kiosk-1", "Kiosk", "north", 1)]
        assert rows("SELECT stream, version FROM streams ORDER BY stream") == [
            ("catalog", 3), ("store-config@s:kiosk-1", 1)]


def test_applying_the_same_message_twice_changes_nothing(replica: Replica,
                                                         store: LocalStore) -> None:
    message = changes(upsert(1, "product", product("A", "1.00")),
                      upsert(2, "product", product("A", "2.00")))
    replica.apply(message)
    before = state(store)
    again = replica.apply(message)
    assert (again.applied, again.duplicates, again.version) == (0, 2, 2)
    assert state(store) == before


def test_an_old_change_never_overwrites_a_newer_one(replica: Replica) -> None:
    replica.apply(changes(upsert(1, "product", product("A", "1.00"))))
    replica.apply(changes(upsert(2, "product", product("A", "2.00"))))
    replica.apply(changes(upsert(1, "product", product("A", "1.00"))))
    assert replica.product("A")["sale_price"] == "2.00"  # type: ignore[index]


def test_a_change_past_a_hole_is_held_until_the_hole_is_filled(
        replica: Replica, holes: list[tuple[str, int]]) -> None:
    replica.apply(changes(upsert(1, "product", product("A", "1.00"))))
    early = replica.apply(changes(upsert(3, "product", product("A", "3.00"))))
    assert (early.applied, early.held, early.version, early.hole) == (0, 1, 1, True)
    assert replica.product("A")["sale_price"] == "1.00"  # type: ignore[index]
    assert holes == [("catalog", 1)]

    filled = replica.apply(changes(upsert(2, "product", product("A", "2.00"))))
    assert (filled.applied, filled.held, filled.version, filled.hole) == (2, 0, 3, False)
    assert replica.product("A")["sale_price"] == "3.00"  # type: ignore[index]
    assert holes == [("catalog", 1)]  # no new hole reported


def test_a_hole_in_one_stream_does_not_hold_back_another(
        replica: Replica, holes: list[tuple[str, int]]) -> None:
    replica.apply(changes(upsert(2, "product", product("A"))))
    other = replica.apply(changes(upsert(1, "store", {"code": "k", "name": "K", "group": None,
                                                      "active": True}),
                                  stream="store-config@s:k"))
    assert other.applied == 1 and not other.hole
    assert replica.store.stream_versions() == {"catalog": 0, "store-config@s:k": 1}
    assert holes == [("catalog", 0)]


def test_a_change_of_an_unknown_entity_still_advances_the_version(replica: Replica) -> None:
    result = replica.apply(changes(
        {"version": 1, "entity": "voucher", "key": "V1", "op": "upsert", "data": {"x": 1}},
        {"version": 2, "entity": "voucher", "key": "V1", "op": "delete", "data": None},
        upsert(3, "product", product("A"))))
    assert (result.applied, result.version) == (3, 3)
    assert replica.product("A") is not None


def test_a_product_upsert_replaces_its_barcodes(replica: Replica) -> None:
    replica.apply(changes(upsert(1, "product", product("A", barcodes=("4006381333931",
                                                                      "96385074")))))
    replica.apply(changes(upsert(2, "product", product("A", barcodes=("96385074", "INT-7")))))
    assert replica.product("4006381333931") is None
    assert replica.product("INT-7")["barcodes"] == ["96385074", "INT-7"]  # type: ignore[index]
    assert state(replica.store)["barcodes"] == [("96385074", "A"), ("INT-7", "A")]


def test_delete_removes_the_row_and_a_products_barcodes(replica: Replica) -> None:
    replica.apply(changes(
        upsert(1, "product", product("A", barcodes=("96385074",))),
        upsert(2, "product", product("B")),
        upsert(3, "brand", {"code": "acme", "name": "Acme", "active": True}),
        delete(4, "product", "A"),
        delete(5, "brand", "acme")))
    assert replica.product("A") is None and replica.product("96385074") is None
    assert replica.product("B") is not None
    snapshot = state(replica.store)
    assert snapshot["barcodes"] == [] and snapshot["brands"] == []
    assert [row[:2] for row in snapshot["streams"]] == [("catalog", 5)]


def test_a_new_log_epoch_wipes_the_replica(replica: Replica, store: LocalStore) -> None:
    replica.apply(changes(upsert(1, "product", product("A")), upsert(2, "product", product("B"))))
    replica.apply(changes(upsert(1, "store", {"code": "k", "name": "K", "group": None,
                                              "active": True}), stream="store-config@s:k"))
    replica.apply(changes(upsert(5, "product", product("held"))))  # held past a hole

    result = replica.apply(changes(upsert(1, "product", product("C")), log_epoch=EPOCH_B))

    assert (result.applied, result.version, result.held) == (1, 1, 0)
    assert replica.log_epoch() == EPOCH_B
    assert store.stream_versions() == {"catalog": 1}
    snapshot = state(store)
    assert [row[0] for row in snapshot["products"]] == ["C"]
    assert snapshot["store_info"] == []
    # The change held from the old history is gone too: version 5 of the new log is new.
    replica.apply(changes(*(upsert(v, "product", product(f"N{v}")) for v in range(2, 6)),
                          log_epoch=EPOCH_B))
    assert replica.product("held") is None


def test_the_applied_versions_survive_a_restart(tmp_path: Path) -> None:
    first = Replica(LocalStore(tmp_path / "agent.db"))
    first.apply(changes(upsert(1, "product", product("A")), upsert(2, "product", product("B"))))
    first.store.close()
    again = Replica(LocalStore(tmp_path / "agent.db"))
    result = again.apply(changes(upsert(2, "product", product("B", "9.99")),
                                 upsert(3, "product", product("C"))))
    assert (result.applied, result.duplicates, result.version) == (1, 1, 3)
    assert again.product("B")["sale_price"] == "1.00"  # type: ignore[index]


def test_a_failing_change_rolls_back_the_whole_message(replica: Replica,
                                                       store: LocalStore) -> None:
    replica.apply(changes(upsert(1, "product", product("A"))))
    before = state(store)
    broken = {"version": 3, "entity": "product", "key": "X", "op": "upsert",
              "data": {"sku": "X"}}  # no name: refused by the entity's schema
    with pytest.raises(WireError, match="invalid product 'X'.*name"):
        replica.apply(changes(upsert(2, "product", product("B")), broken))
    assert state(store) == before


# -- any delivery order ends in the same state ------------------------------------------------

SKUS = ["A", "B", "C"]


@st.composite
def change_logs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A change log of 1..10 versions over a few products, brands and unknown entities."""
    count = draw(st.integers(min_value=1, max_value=10))
    log: list[dict[str, Any]] = []
    for version in range(1, count + 1):
        kind = draw(st.sampled_from(["product", "product", "brand", "delete", "unknown"]))
        sku = draw(st.sampled_from(SKUS))
        if kind == "product":
            price = draw(st.sampled_from(["1.00", "2.50", "9.99"]))
            barcodes = draw(st.sets(st.sampled_from([f"{sku}-1", f"{sku}-2", f"{sku}-3"])))
            log.append(upsert(version, "product", product(sku, price, tuple(sorted(barcodes)))))
        elif kind == "brand":
            log.append(upsert(version, "brand", {"code": sku, "name": f"Brand {version}",
                                                 "active": draw(st.booleans())}))
        elif kind == "delete":
            log.append(delete(version, draw(st.sampled_from(["product", "brand"])), sku))
        else:
            log.append({"version": version, "entity": "gift", "key": sku, "op": "upsert",
                        "data": {"v": version}})
    return log


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """A log, cut into messages, delivered shuffled with duplicates (each at least once)."""
    log = draw(change_logs())
    cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=len(log) - 1),
                               max_size=len(log) - 1))) if len(log) > 1 else []
    bounds = [0, *cuts, len(log)]
    chunks = [log[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    extra = draw(st.lists(st.sampled_from(chunks), max_size=4))
    order = draw(st.permutations(chunks + extra))
    return log, order


@settings(max_examples=60, deadline=None)
@given(deliveries())
def test_any_order_and_duplication_ends_in_the_in_order_state(
        case: tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]) -> None:
    log, order = case
    with tempfile.TemporaryDirectory() as tmp:
        in_order = LocalStore(Path(tmp) / "in-order.db")
        Replica(in_order).apply(changes(*log))
        shuffled = LocalStore(Path(tmp) / "shuffled.db")
        replica = Replica(shuffled)
        for chunk in order:
            replica.apply(changes(*chunk))
        assert state(shuffled) == state(in_order)
        assert shuffled.stream_versions() == {"catalog": len(log)}
        in_order.close()
        shuffled.close()


# -- snapshots --------------------------------------------------------------------------------

def snapshot_part(snapshot: str, version: int, part: int, parts: int,
                  entries: list[dict[str, Any]], stream: str = "catalog",
                  log_epoch: str = EPOCH_A) -> dict[str, Any]:
    return messages.parse(messages.envelope(
        "snapshot", stream=stream, log_epoch=log_epoch, snapshot=snapshot, version=version,
        part=part, parts=parts, entries=entries), "snapshot")


def entry(data: dict[str, Any]) -> dict[str, Any]:
    return {"entity": "product", "key": data["sku"], "data": data}


def skus(store: LocalStore) -> dict[str, str]:
    with store.read() as conn:
        return {r[0]: r[1] for r in conn.execute("SELECT sku, sale_price FROM products")}


def test_a_snapshot_replaces_the_stream_once_every_part_is_in(store: LocalStore) -> None:
    replica = Replica(store)
    replica.apply(changes(upsert(1, "product", product("OLD")),
                          upsert(2, "product", product("KEPT", "1.00"))))
    # Parts in any order, one of them twice; nothing changes before the last one.
    assert replica.apply_snapshot(snapshot_part("s1", 40, 2, 3, [entry(product("B"))])).applied \
        == 0
    replica.apply_snapshot(snapshot_part("s1", 40, 2, 3, [entry(product("B"))]))
    assert set(skus(store)) == {"OLD", "KEPT"}
    replica.apply_snapshot(snapshot_part("s1", 40, 3, 3, []))
    result = replica.apply_snapshot(snapshot_part("s1", 40, 1, 3,
                                                  [entry(product("KEPT", "2.00"))]))
    assert result.applied == 2 and result.version == 40
    assert skus(store) == {"KEPT": "2.00", "B": "1.00"}  # OLD was deleted at central
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM snapshot_parts").fetchone()[0] == 0
    assert store.stream_versions()["catalog"] == 40


def test_changes_after_the_snapshot_wait_for_it_then_apply(
        store: LocalStore, holes: list[tuple[str, int]]) -> None:
    replica = Replica(store, on_hole=lambda s, v: holes.append((s, v)))
    # Live changes made while the snapshot streams arrive first: they are held.
    replica.apply(changes(upsert(41, "product", product("NEW")),
                          upsert(42, "product", product("A", "3.00"))))
    assert skus(store) == {}
    result = replica.apply_snapshot(snapshot_part("s1", 40, 1, 1,
                                                  [entry(product("A", "2.00"))]))
    assert result.version == 42 and not result.hole
    assert skus(store) == {"A": "3.00", "NEW": "1.00"}


def test_a_newer_snapshot_replaces_the_parts_of_an_older_one(store: LocalStore) -> None:
    replica = Replica(store)
    replica.apply_snapshot(snapshot_part("old", 10, 1, 2, [entry(product("X"))]))
    replica.apply_snapshot(snapshot_part("new", 12, 1, 2, [entry(product("Y"))]))
    replica.apply_snapshot(snapshot_part("old", 10, 2, 2, [entry(product("Z"))]))
    assert skus(store) == {}  # the old one lost its first part
    replica.apply_snapshot(snapshot_part("new", 12, 2, 2, [entry(product("W"))]))
    assert set(skus(store)) == {"Y", "W"}
    # A snapshot older than what the store holds is ignored.
    replica.apply_snapshot(snapshot_part("stale", 5, 1, 1, []))
    assert set(skus(store)) == {"Y", "W"} and store.stream_versions()["catalog"] == 12


def test_a_snapshot_of_one_price_stream_leaves_the_others(store: LocalStore) -> None:
    replica = Replica(store)
    price = {"sku": "A", "price": "1.50", "effective_from": None}
    replica.apply(changes({"version": 1, "entity": "price", "key": "A|-", "op": "upsert",
                           "data": price}, stream="prices@s:kiosk-1"))
    replica.apply(changes({"version": 1, "entity": "price", "key": "A|-", "op": "upsert",
                           "data": {**price, "price": "1.60"}}, stream="prices@g:north"))
    replica.apply_snapshot(snapshot_part("s", 9, 1, 1, [], stream="prices@s:kiosk-1"))
    with store.read() as conn:
        rows = conn.execute("SELECT stream, price FROM prices").fetchall()
    assert [tuple(r) for r in rows] == [("prices@g:north", "1.60")]


# -- checksums --------------------------------------------------------------------------------

def expected_checksum(*live: dict[str, Any]) -> str:
    from protocol.checksum import EMPTY, combine, entry_hash
    return combine(EMPTY, *(entry_hash("product", p["sku"], messages.parse(
        messages.envelope("changes", stream="catalog", log_epoch=EPOCH_A,
                          changes=[upsert(1, "product", p)]), "changes")["changes"][0]["data"])
        for p in live))


def test_the_checksum_is_that_of_the_live_entries_however_they_came(store: LocalStore) -> None:
    replica = Replica(store)
    a1, a2, b = product("A", "1.00"), product("A", "2.00"), product("B")
    replica.apply(changes(upsert(1, "product", a1), upsert(2, "product", b),
                          upsert(3, "product", a2), delete(4, "product", "B")))
    versions, checksums = store.stream_state()
    assert versions["catalog"] == 4 and checksums["catalog"] == expected_checksum(a2)
    # Another store built from a snapshot of the same state holds the same checksum.
    other = LocalStore(store.path.with_name("other.db"))
    Replica(other).apply_snapshot(snapshot_part("s", 4, 1, 1, [entry(a2)]))
    assert other.stream_state() == (versions, checksums)
    # Drift: the same version with other data shows as another checksum.
    drifted = LocalStore(store.path.with_name("drifted.db"))
    Replica(drifted).apply_snapshot(snapshot_part("s", 4, 1, 1, [entry(a1)]))
    assert drifted.stream_state()[1]["catalog"] != checksums["catalog"]


def test_a_store_moved_to_another_group_forgets_the_old_groups_prices(
        store: LocalStore) -> None:
    replica = Replica(store)
    price = {"sku": "A", "price": "1.50", "effective_from": None}
    replica.apply(changes({"version": 1, "entity": "price", "key": "A|-", "op": "upsert",
                           "data": price}, stream="prices@g:north"))
    replica.apply(changes({"version": 1, "entity": "price", "key": "A|-", "op": "upsert",
                           "data": {**price, "price": "1.40"}}, stream="prices@s:kiosk-1"))
    record = {"code": "kiosk-1", "name": "K", "group": "north", "active": True}
    replica.apply(changes(upsert(1, "store", record), stream="store-config@s:kiosk-1"))
    assert "prices@g:north" in store.stream_versions()
    replica.apply(changes(upsert(2, "store", {**record, "group": "south"}),
                          stream="store-config@s:kiosk-1"))
    versions = store.stream_versions()
    assert "prices@g:north" not in versions and "prices@s:kiosk-1" in versions
    with store.read() as conn:
        assert [r[0] for r in conn.execute("SELECT stream FROM prices")] == ["prices@s:kiosk-1"]
    # Leaving every group forgets them all.
    replica.apply(changes({"version": 1, "entity": "price", "key": "A|-", "op": "upsert",
                           "data": price}, stream="prices@g:south"))
    replica.apply(changes(upsert(3, "store", {**record, "group": None}),
                          stream="store-config@s:kiosk-1"))
    assert not [s for s in store.stream_versions() if "@g:" in s]
