"""The registry of synced entities holds for what central really sends.

Every payload central's services record (their ``*_wire()`` functions) fits its entity's
schema under its key, and everything a store receives round-trips into its SQLite tables with
the same checksum as central's. A new entity needs a registry entry, a recording service and
an agent table (with its migration), nothing else: the last test adds one.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from marshmallow import EXCLUDE, Schema, fields
from sqlalchemy.orm import Session

from central.db import Database
from central.services import (
    cashiers,
    catalog,
    changelog,
    customer_fields,
    customer_merges,
    customer_queries,
    customers,
    display,
    instructions,
    loyalty_profiles,
    loyalty_programme,
    partners,
    points_ledger,
    policies,
    prices,
    receipts,
    stores,
    surveys,
)
from protocol.entities import ENTITIES, Entity
from protocol.streams import ALL, CATALOG, parse_stream
from store_agent.migrations import MIGRATIONS, Migration
from store_agent.pos import loyalty
from store_agent.pos.api import create_app as pos_app
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Layout, Replica
from store_agent.sync.replica_tables import TABLES, Table, field_

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
STORE = "kiosk-1"


def sync(db: Database, replica: Replica, store: str) -> None:
    """Feed the store every change of the streams it follows, as the publisher would."""
    with db.sessions() as session:
        for stream in changelog.heads(session):
            _bucket, scope = parse_stream(stream)
            if scope.kind == "store" and scope.ref != store:
                continue
            applied = replica.store.stream_versions().get(stream, 0)
            rows = changelog.read(session, stream, applied, 10_000)
            if rows:
                replica.apply({"stream": stream, "log_epoch": "test", "changes": [
                    {"version": c.version, "entity": c.entity, "key": c.key, "op": c.op,
                     "data": None if c.data is None else json.loads(c.data,
                                                                    parse_float=Decimal)}
                    for c in rows]})


def every_change(db: Database) -> list[Any]:
    with db.sessions() as session:
        return [c for stream in changelog.heads(session)
                for c in changelog.read(session, stream, 0, 10_000)]


@pytest.fixture
def chain(clean_pg_db: Database) -> Database:
    """A chain where every service that records a synced entity has run, updates and
    removals included."""
    db = clean_pg_db
    with db.transaction() as s:
        stores.create_group(s, "north", "North")
        stores.create_store(s, STORE, "Kiosk 1", "north", "Europe/Lisbon")
        stores.create_store(s, "market", "Market")
        stores.update_store(s, "market", {"time_zone": "Europe/Rome", "group": "north"})
        catalog.create_category(s, "food", "Food")
        catalog.create_category(s, "bread", "Bread", "food")
        catalog.create_brand(s, "acme", "Acme")
        catalog.create_family(s, "loaves", "Loaves")
        catalog.update_family(s, "loaves", {"active": False})
        catalog.create_product(s, {"sku": "BREAD", "name": "Bread", "category": "bread",
                                   "brand": "acme", "family": "loaves",
                                   "vat_rate": Decimal("9"), "sale_price": Decimal("2.10"),
                                   "barcodes": ["96385074"]})
        catalog.create_product(s, {"sku": "MILK", "name": "Milk", "vat_rate": Decimal("9"),
                                   "sale_price": Decimal("1.49")})
        catalog.update_product(s, "MILK", {"sale_price": Decimal("1.59")})
        prices.set_price(s, "BREAD", Decimal("1.99"), "store", STORE,
                         NOW + dt.timedelta(days=1), now=NOW)
        prices.set_price(s, "MILK", Decimal("1.39"), "group", "north", now=NOW)
        gone = prices.set_price(s, "MILK", Decimal("1.29"), now=NOW)
        prices.delete_price(s, gone.id)
        policies.create(s, "exclusion", {"code": "no-bread", "name": "No bread",
                                         "target": {"kind": "category", "codes": ["bread"]}})
        policies.create(s, "sales_rule", {"code": "sales", "name": "Sales", "percent": "10",
                                          "stores": [STORE],
                                          "target": {"kind": "all", "codes": []}})
        policies.create(s, "promotion", {"code": "3x2", "name": "3 for 2",
                                         "promotion": "quantity", "buy": 2, "get": 1,
                                         "percent": "100",
                                         "target": {"kind": "product", "codes": ["MILK"]},
                                         "period": {"start": NOW.isoformat(), "end": None}})
        policies.create(s, "promotion", {"code": "milk-1", "name": "Milk at 1",
                                         "promotion": "fixed_price", "price": "1.00",
                                         "groups": ["north"],
                                         "target": {"kind": "product", "codes": ["MILK"]}})
        policies.deactivate(s, "milk-1")
        partners.create_programme(s, {"code": "UNION", "name": "Union", "percent": "5"})
        partners.add_cards(s, "UNION", [{"number": "7700000000017"},
                                        {"first": "7700000000100", "last": "7700000000199"}])
        partners.remove_card(s, "UNION", "7700000000017")
        partners.create_vip(s, {"code": "#VIP#0001", "customer": "Ada", "percent": "15",
                                "valid_until": (NOW + dt.timedelta(days=90)).isoformat()},
                            now=NOW)
        receipts.put(s, "default", {"header": ["TESSERA"], "footer": ["Grazie!"]}, NOW)
        receipts.put(s, STORE, {"header": ["Kiosk 1"]}, NOW)
        receipts.put(s, "market", {"footer": ["Ciao"]}, NOW)
        receipts.delete(s, "market")
        cashiers.create(s, "anna", "Anna", "4711", [STORE, "market"])
        cashiers.update(s, "anna", {"stores": [STORE], "pin": "1234"})
        loyalty_profiles.create_profile(s, "BASE", {
            "description": "Standard", "default": True, "card_prefix": "29",
            "discount_percent": Decimal("5"),
            "accrual": {"threshold": "1", "step": "1", "points_per_step": "1"},
            "redemption": {"bands": [{"ratio": "30", "up_to": "100"},
                                     {"ratio": "35", "above": "100"}]}}, NOW)
        catalog.update_product(s, "BREAD", {"purchase_cost": Decimal("1.00")})
        catalog.update_product(s, "MILK", {"purchase_cost": Decimal("0.80")})
        catalog.update_product(s, "MILK", {"purchase_cost": None})  # no cost: no value
        loyalty_programme.put_level(s, "L1", Decimal("10"), "Level 1")
        loyalty_programme.put_level(s, "L2", Decimal("20"))
        loyalty_programme.put_gift(s, "BREAD", "L1")
        loyalty_programme.put_gift(s, "MILK", "L2", Decimal("25"))
        loyalty_programme.delete_gift(s, "MILK")
        loyalty_programme.delete_level(s, "L2")
        customer_fields.save_field(s, {"code": "size", "label": "Size", "kind": "choice",
                                 "choices": ["S", "M", "L"]})
        customer_fields.set_mandatory(s, ["last_name"])
        first = customers.create(s, {"last_name": "Rossi", "extra.size": "m",
                                     "consent_sms": True,
                                     "cards": [{"number": "2990000000019"}]}, now=NOW)
        second = customers.create(s, {"last_name": "Rosi", "birth_date": "1980-01-02"},
                                  now=NOW + dt.timedelta(minutes=1))
        customer_merges.merge(s, first.id, second.id, by="test")
        points_ledger.adjust(s, first.id, Decimal("12"), "welcome", "test", NOW)
        gone = customers.create(s, {"last_name": "Bianchi"}, now=NOW)
        customer_merges.erase(s, gone.id, by="test")
        customer_queries.save_alert(s, {"code": "big", "position": 1, "message": "Big",
                                        "condition": "total_spend >= 1000"})
        note = instructions.create(s, "Check the yoghurts", groups=["north"], scroll=True,
                                   valid_from=NOW, valid_until=NOW + dt.timedelta(days=1))
        instructions.update(s, note.id, {"groups": [], "stores": ["market"]})
        instructions.create(s, "Anna: see the manager", cashier="anna")
        instructions.set_seller_message(s, STORE, "Ask for the e-mail address", NOW)
        instructions.set_seller_message(s, "market", "Record the customer", NOW)
        instructions.set_seller_message(s, "market", "", NOW)
        surveys.create_question(s, "how", "How did you hear of us?", ["A friend", "The web"])
        surveys.create_survey(s, "autumn", "Autumn", ["how"])
        surveys.assign(s, STORE, "autumn")
        surveys.assign(s, "market", "autumn")
        surveys.update_question(s, "how", {"text": "How did you find us?"})
        surveys.assign(s, "market", None)
        display.put(s, "group", "north", [{"kind": "image", "src": "https://cdn/a.png"},
                                          {"kind": "url", "src": "https://shop/offers",
                                           "seconds": 20}], NOW)
        display.put(s, "store", STORE, [{"kind": "video", "src": "https://cdn/v.mp4"}], NOW)
        display.delete(s, "store", STORE)
    return db


def test_every_payload_central_records_fits_its_entitys_schema_and_key(
        chain: Database) -> None:
    seen: set[str] = set()
    for change in every_change(chain):
        entity = ENTITIES.get(change.entity)
        assert entity is not None, f"central sends {change.entity!r}, not in the registry"
        assert parse_stream(change.stream)[0] == entity.bucket, change.entity
        seen.add(change.entity)
        if change.op == "delete":
            assert change.data is None
            assert entity.key_parts(change.key), change.key
            continue
        data = json.loads(change.data, parse_float=Decimal)
        loaded = entity.load(change.key, data)  # WireError, naming the field, if not
        assert entity.key_of(data) == change.key
        # The schema declares every field central sends: nothing travels undocumented.
        assert set(data) <= set(entity.schema.fields), (change.entity, set(data) - set(
            entity.schema.fields))
        assert entity.key_of(loaded) == change.key
    assert seen == {entity.name for entity in ENTITIES}


def test_everything_a_store_follows_round_trips_into_its_tables(chain: Database,
                                                                tmp_path: Path) -> None:
    replica = Replica(LocalStore(tmp_path / "agent.db"))
    sync(chain, replica, STORE)
    with chain.sessions() as session:
        central = changelog.checksums(session)
    _versions, checksums = replica.store.stream_state()
    followed = {name for name in central
                if parse_stream(name)[1].kind != "store" or parse_stream(name)[1].ref == STORE}
    assert set(checksums) == followed
    for stream in followed:
        assert checksums[stream] == central[stream][1], stream
    with replica.store.read() as conn:
        def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in conn.execute(sql)]

        for table in TABLES:
            assert rows(f"SELECT * FROM {table.name}"), f"nothing in {table.name}"  # noqa: S608
        assert rows("SELECT code, grp, time_zone FROM store_info") == [
            (STORE, "north", "Europe/Lisbon")]
        assert rows("SELECT sku, family, sale_price FROM products ORDER BY sku") == [
            ("BREAD", "loaves", "2.10"), ("MILK", None, "1.59")]
        assert rows("SELECT code, sku FROM barcodes") == [("96385074", "BREAD")]
        assert rows("SELECT stream, sku, price FROM prices ORDER BY stream") == [
            ("prices@g:north", "MILK", "1.39"), (f"prices@s:{STORE}", "BREAD", "1.99")]
        assert rows("SELECT code, kind FROM policies ORDER BY code") == [
            ("3x2", "promotion"), ("milk-1", "promotion"), ("no-bread", "exclusion"),
            ("sales", "sales_rule")]
        assert rows("SELECT first, last, active FROM partner_cards ORDER BY first") == [
            ("7700000000017", "7700000000017", 0), ("7700000000100", "7700000000199", 1)]
        assert [r[0] for r in rows("SELECT scope FROM receipt_profiles ORDER BY scope")] == [
            "default", STORE]
        assert rows("SELECT code, version FROM loyalty_profiles") == [("BASE", 1)]
        assert rows("SELECT code, name, points FROM loyalty_levels") == [
            ("L1", "Level 1", "10.00")]
        assert rows("SELECT sku, level, points FROM loyalty_gifts") == [("BREAD", "L1", None)]
        # BREAD: cost 1.00, markup 110%: 35 points a euro.
        assert rows("SELECT profile, sku, points FROM points_values") == [
            ("BASE", "BREAD", "35.00")]
        assert rows("SELECT points, updated_at FROM points_balances") == [
            ("12.00", NOW.isoformat())]
    # The store reads them back as the rules take them, and lists the gifts for the till.
    [profile] = loyalty.profiles(replica.store)
    assert profile.default and profile.card_discount() is not None
    assert profile.accrual == loyalty_profiles.accrual_from_wire(
        {"threshold": "1", "step": "1", "points_per_step": "1"})
    till = pos_app(replica.store, replica, STORE, lambda: {}, clock=lambda: NOW).test_client()
    view = till.get("/pos/v1/loyalty/gifts").get_json()
    assert view["profile"] == "BASE"
    assert view["levels"] == [{"code": "L1", "name": "Level 1", "points": "10.00"}]
    assert view["gifts"] == [{"sku": "BREAD", "name": "Bread", "sale_price": "2.10",
                              "level": "L1", "points": "10.00", "points_value": "35.00"}]


# -- a new entity: a registry entry, a recording service, an agent table ---------------------

class ShelfLabelData(Schema):
    class Meta:
        unknown = EXCLUDE

    code = fields.String(required=True)
    text = fields.String(required=True)
    price = fields.Decimal(required=True)


# 1. the registry entry (protocol/entities.py)
SHELF_LABEL = Entity("shelf_label", CATALOG, ShelfLabelData(), ("code",))


# 2. the recording service (central/services/...)
def put_label(session: Session, code: str, text: str, price: Decimal) -> None:
    changelog.record(session, SHELF_LABEL.bucket, ALL, SHELF_LABEL.name, code, "upsert",
                     {"code": code, "text": text, "price": price})


def remove_label(session: Session, code: str) -> None:
    changelog.record(session, SHELF_LABEL.bucket, ALL, SHELF_LABEL.name, code, "delete", None)


# 3. the agent table: its migration (store_agent/migrations.py) and row mapping
# (store_agent/replica_tables.py)
LABELS_MIGRATION = Migration(MIGRATIONS[-1].number + 1, "shelf labels", (
    "CREATE TABLE shelf_labels (code TEXT PRIMARY KEY, text TEXT NOT NULL, "
    "price TEXT NOT NULL);",))
LABELS_TABLE = Table("shelf_label", "shelf_labels", ("code",),
                     {"code": field_("code"), "text": field_("text"),
                      "price": lambda data, _raw: str(data["price"])})


def test_a_new_synced_entity_needs_a_registry_entry_a_service_and_a_table(
        clean_pg_db: Database, tmp_path: Path) -> None:
    db = clean_pg_db
    with db.transaction() as s:
        put_label(s, "L1", "Fresh bread", Decimal("2.10"))
        put_label(s, "L2", "Milk", Decimal("1.59"))
        catalog.create_product(s, {"sku": "MILK", "name": "Milk", "vat_rate": Decimal("9"),
                                   "sale_price": Decimal("1.59")})
        put_label(s, "L1", "Fresh bread, today", Decimal("1.99"))
        remove_label(s, "L2")
    layout = Layout(ENTITIES.with_(SHELF_LABEL), TABLES.with_(LABELS_TABLE))
    store = LocalStore(tmp_path / "agent.db", (*MIGRATIONS, LABELS_MIGRATION))
    replica = Replica(store, layout=layout)
    sync(db, replica, STORE)
    with store.read() as conn:
        assert [tuple(r) for r in conn.execute("SELECT * FROM shelf_labels")] == [
            ("L1", "Fresh bread, today", "1.99")]
    assert replica.product("MILK") is not None
    with db.sessions() as session:
        assert store.stream_state()[1]["catalog"] == changelog.checksums(session)["catalog"][1]

    # A snapshot of the bucket wipes the new table too, and a new log epoch empties it.
    replica.apply_snapshot({"stream": "catalog", "log_epoch": "test", "snapshot": "s1",
                            "version": 9, "part": 1, "parts": 1, "entries": [
                                {"entity": "shelf_label", "key": "L3",
                                 "data": {"code": "L3", "text": "New", "price": "0.99"}}]})
    with store.read() as conn:
        assert [r[0] for r in conn.execute("SELECT code FROM shelf_labels")] == ["L3"]
    assert replica.product("MILK") is None
    replica.apply({"stream": "catalog", "log_epoch": "other", "changes": [
        {"version": 1, "entity": "brand", "key": "b", "op": "upsert",
         "data": {"code": "b", "name": "B", "active": True}}]})
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM shelf_labels").fetchone()[0] == 0

    # An agent that does not know the entity yet ignores it and keeps up with the stream.
    older = Replica(LocalStore(tmp_path / "older.db"))
    sync(db, older, STORE)
    assert older.store.stream_versions()["catalog"] == 5
    assert older.product("MILK") is not None
