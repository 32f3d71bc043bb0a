"""Sales at the till: one local transaction with the outbox entry, replays are harmless."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from protocol import messages
from rules.pricing import InvalidQuantity, UnknownProduct
from store_agent.pos.cashiers import UnknownCashier
from store_agent.pos.till import PaymentShort, SaleConflict, record_sale
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
STORE = "kiosk-1"


def _product(sku: str, price: str, rate: str, barcodes: list[str],
             active: bool = True) -> dict[str, Any]:
    return {"sku": sku, "name": sku.title(), "category": None, "brand": None,
            "vat_rate": rate, "sale_price": price, "active": active, "barcodes": barcodes}


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "agent.db")
    products = [_product("bread", "1.15", "9.00", ["4006381333931"]),
                _product("wine", "7.50", "21.00", ["96385074"]),
                _product("old", "1.00", "21.00", [], active=False)]
    Replica(store).apply(messages.parse(messages.envelope(
        "changes", stream="catalog", log_epoch="e1",
        changes=[{"version": i, "entity": "product", "key": p["sku"], "op": "upsert", "data": p}
                 for i, p in enumerate(products, start=1)])))
    return store


def request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"uuid": str(uuid.uuid4()),
                            "lines": [{"code": "4006381333931", "qty": "2"},
                                      {"code": "wine", "qty": "1"}],
                            "payments": [{"method": "cash", "amount": "20.00"}],
                            "till": "T1", "cashier": "ann"}
    body.update(overrides)
    return body


def recorded(store: LocalStore) -> dict[str, Any]:
    with store.read() as conn:
        return {
            "sales": [dict(r) for r in conn.execute("SELECT uuid, number, result FROM sales "
                                                    "ORDER BY number")],
            "outbox": [dict(r) for r in conn.execute("SELECT seq, kind, ref, body FROM outbox "
                                                     "ORDER BY seq")],
            "receipt_number": store.get_meta(conn, "receipt_number"),
        }


def test_a_sale_is_priced_and_recorded_with_its_outbox_entry(store: LocalStore) -> None:
    req = request()
    outcome = record_sale(store, STORE, req, NOW)

    assert outcome.created
    sale = outcome.sale
    assert sale["uuid"] == req["uuid"] and sale["store"] == STORE and sale["number"] == 1
    assert sale["created_at"] == "2026-11-22T09:30:00+00:00"
    assert [(line["sku"], line["barcode"], line["qty"], line["amount"])
            for line in sale["lines"]] == [("bread", "4006381333931", "2", "2.30"),
                                           ("wine", None, "1", "7.50")]
    assert sale["total"] == "9.80" and sale["change"] == "10.20"
    assert sale["vat"] == [{"rate": "9.00", "gross": "2.30", "net": "2.11", "vat": "0.19"},
                           {"rate": "21.00", "gross": "7.50", "net": "6.20", "vat": "1.30"}]

    rows = recorded(store)
    assert [(s["uuid"], s["number"]) for s in rows["sales"]] == [(req["uuid"], 1)]
    assert [(o["seq"], o["kind"], o["ref"]) for o in rows["outbox"]] == [(1, "sale", req["uuid"])]
    assert json.loads(rows["outbox"][0]["body"]) == sale
    # What goes up is a valid sale for central.
    assert messages.parse_sale(sale)["total"] == Decimal("9.80")


def test_receipt_numbers_and_outbox_seqs_are_consecutive(store: LocalStore) -> None:
    uuids = [request()["uuid"] for _ in range(4)]
    numbers = [record_sale(store, STORE, request(uuid=u), NOW).sale["number"] for u in uuids]
    assert numbers == [1, 2, 3, 4]
    rows = recorded(store)
    assert [(o["seq"], o["ref"]) for o in rows["outbox"]] == list(zip([1, 2, 3, 4], uuids,
                                                                      strict=True))
    assert rows["receipt_number"] == "4"


@pytest.mark.parametrize("respelled", [
    {"lines": [{"code": "4006381333931", "qty": 2.0}, {"code": "wine", "qty": "1.000"}]},
    {"lines": [{"code": "4006381333931", "qty": Decimal("2.00")},
               {"code": "wine", "qty": 1}]},
    {"payments": [{"method": "cash", "amount": "20"}]},
    {"payments": [{"method": "cash", "amount": Decimal("20.000")}]},
], ids=["float and padded qty", "decimal and int qty", "amount without cents",
        "amount with extra zero"])
def test_a_replay_spelled_differently_returns_the_original(store: LocalStore,
                                                          respelled: dict[str, Any]) -> None:
    req = request()
    first = record_sale(store, STORE, req, NOW)
    before = recorded(store)

    replay = record_sale(store, STORE, {**req, **respelled}, NOW + dt.timedelta(minutes=5))

    assert not replay.created
    assert replay.sale == first.sale
    assert recorded(store) == before


@pytest.mark.parametrize("other", [
    {"lines": [{"code": "4006381333931", "qty": "3"}, {"code": "wine", "qty": "1"}]},
    {"lines": [{"code": "wine", "qty": "1"}, {"code": "4006381333931", "qty": "2"}]},
    {"payments": [{"method": "card", "amount": "20.00"}]},
    {"till": "T2"},
], ids=["other quantity", "other line order", "other payment", "other till"])
def test_the_same_uuid_with_another_request_is_a_conflict(store: LocalStore,
                                                         other: dict[str, Any]) -> None:
    req = request()
    first = record_sale(store, STORE, req, NOW)
    before = recorded(store)

    with pytest.raises(SaleConflict):
        record_sale(store, STORE, {**req, **other}, NOW)

    assert recorded(store) == before
    assert record_sale(store, STORE, req, NOW).sale == first.sale


REFUSED = {
    "short payment": (request(payments=[{"method": "cash", "amount": "9.79"}]), PaymentShort),
    "short split payment": (request(payments=[{"method": "cash", "amount": "5.00"},
                                              {"method": "card", "amount": "4.79"}]),
                            PaymentShort),
    "unknown product": (request(lines=[{"code": "bread", "qty": "1"},
                                       {"code": "5901234123457", "qty": "1"}]),
                        UnknownProduct),
    "inactive product": (request(lines=[{"code": "old", "qty": "1"}]), UnknownProduct),
    "zero quantity": (request(lines=[{"code": "bread", "qty": "0"}]), InvalidQuantity),
}


@pytest.mark.parametrize("req, error", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_sale_records_nothing(store: LocalStore, req: dict[str, Any],
                                        error: type[Exception]) -> None:
    record_sale(store, STORE, request(), NOW)
    before = recorded(store)

    with pytest.raises(error):
        record_sale(store, STORE, req, NOW)

    assert recorded(store) == before
    # The refused UUID is still free, and numbering goes on without a gap.
    fixed = record_sale(store, STORE, {**req, "lines": [{"code": "bread", "qty": "1"}],
                                       "payments": []}, NOW)
    assert fixed.created and fixed.sale["number"] == 2


def test_exact_payment_is_accepted_with_no_change(store: LocalStore) -> None:
    outcome = record_sale(store, STORE, request(payments=[{"method": "cash", "amount": "5.00"},
                                                          {"method": "card", "amount": "4.80"}]),
                          NOW)
    assert outcome.sale["change"] == "0.00"


def test_sale_and_outbox_entry_commit_together(store: LocalStore) -> None:
    # If writing the outbox entry fails, the sale must not exist either: a sale that never
    # reaches central would be lost silently.
    with store.write() as conn:
        conn.execute("CREATE TRIGGER no_outbox BEFORE INSERT ON outbox "
                     "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    req = request()
    with pytest.raises(sqlite3.DatabaseError, match="disk full"):
        record_sale(store, STORE, req, NOW)
    assert recorded(store) == {"sales": [], "outbox": [], "receipt_number": None}

    with store.write() as conn:
        conn.execute("DROP TRIGGER no_outbox")
    outcome = record_sale(store, STORE, req, NOW)
    assert outcome.created and outcome.sale["number"] == 1


def test_once_the_store_has_cashiers_only_an_active_one_may_sell(store: LocalStore) -> None:
    # No cashier from central yet: the free text of older tills (or none) is recorded.
    assert record_sale(store, STORE, request(cashier="ann"), NOW).sale["cashier"] == "ann"
    assert record_sale(store, STORE, request(cashier=None), NOW).sale["cashier"] is None
    with store.write() as conn:
        conn.executemany("INSERT INTO cashiers (code, name, pin_hash, active) "
                         "VALUES (?, ?, 'x', ?)", [("ann", "Ann", 1), ("bob", "Bob", 0)])
    before = recorded(store)
    for who, why in ((None, "needs the signed-in cashier"),
                     ("eve", "'eve' is not a cashier of this store"),
                     ("bob", "cashier 'bob' is deactivated")):
        with pytest.raises(UnknownCashier, match=why):
            record_sale(store, STORE, request(cashier=who), NOW)
    assert recorded(store) == before
    assert record_sale(store, STORE, request(cashier="ann"), NOW).sale["cashier"] == "ann"
