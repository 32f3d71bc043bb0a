"""Bad input from outside (issue 10): every hole found by hand, refused with a clear 4xx.

The till's API runs on a real SQLite store, central's on the test databases (PostgreSQL
and SQLite), both through Flask's test client.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from central.db import Database
from protocol import messages
from store_agent.pos.api import create_app as pos_app
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
STORE = "kiosk-1"
DEEP = "[" * 1000 + "]" * 1000


def _product(sku: str, price: str, barcodes: list[str], **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "name": sku.title(), "category": None, "brand": None,
            "vat_rate": "9.00", "sale_price": price, "active": True, "barcodes": barcodes,
            **extra}


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "agent.db")
    products = [_product("bread", "1.15", ["4006381333931"]),  # no unit: older data, piece
                _product("cheese", "12.40", ["2000000000015"], unit="kg"),
                _product("wine", "7.50", ["96385074"], unit="piece"),
                _product("sand", "0.49", [], unit="kg")]
    Replica(store).apply(messages.parse(messages.envelope(
        "changes", stream="catalog", log_epoch="e1",
        changes=[{"version": i, "entity": "product", "key": p["sku"], "op": "upsert", "data": p}
                 for i, p in enumerate(products, start=1)])))
    return store


@pytest.fixture
def pos(store: LocalStore) -> FlaskClient:
    app = pos_app(store, Replica(store), STORE, lambda: {}, clock=lambda: NOW)
    return app.test_client()


def sale(*lines: dict[str, Any], pay: Any = "50.00") -> dict[str, Any]:
    return {"uuid": str(uuid.uuid4()), "lines": list(lines),
            "payments": [{"method": "cash", "amount": pay}]}


def sales_count(store: LocalStore) -> int:
    with store.read() as conn:
        return int(conn.execute("SELECT count(*) FROM sales").fetchone()[0])


@pytest.fixture
def db(central_db: Database) -> Database:
    return central_db


@pytest.fixture
def central(client: FlaskClient) -> FlaskClient:
    return client


def product(sku: str = "loaf", **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "name": "White bread 500 g", "vat_rate": "9", "sale_price": "1.15",
            **extra}


def assert_error(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    assert body["code"] == status and body["message"]
    if field is not None:
        assert field in json.dumps(body.get("errors") or {}), body
    return body


# -- 1. deep nesting -------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/pos/v1/sales", "/pos/v1/baskets/price"])
def test_deep_json_nesting_is_a_400_at_the_till(pos: FlaskClient, path: str) -> None:
    body = assert_error(pos.post(path, data=DEEP, content_type="application/json"), 400)
    assert "nested deeper than" in body["message"]


@pytest.mark.parametrize("path", ["/api/v1/auth/tokens", "/api/v1/products/",
                                  "/api/v1/prices/"])
def test_deep_json_nesting_is_a_400_at_central(central: FlaskClient, path: str) -> None:
    body = assert_error(central.post(path, data=DEEP, content_type="application/json"), 400)
    assert "nested deeper than" in body["message"]


# -- 2. size limit ---------------------------------------------------------------------------

def test_a_huge_body_is_a_413_at_the_till(pos: FlaskClient, store: LocalStore) -> None:
    body = sale({"code": "bread", "qty": "1"})
    body["cashier"] = "x" * (2 * 1024 * 1024)
    assert_error(pos.post("/pos/v1/sales", json=body), 413)
    assert sales_count(store) == 0


def test_a_huge_body_is_a_413_at_central(central: FlaskClient) -> None:
    padded = {**product(), "name": "x" * (10 * 1024 * 1024)}
    assert_error(central.post("/api/v1/products/", json=padded), 413)


# -- 3. money at the till --------------------------------------------------------------------

@pytest.mark.parametrize("amount", ["1.505", "1e3", " 5", "-1", "1000000000", "NaN", "Infinity"])
def test_a_payment_must_be_cents_as_a_decimal_string(pos: FlaskClient, store: LocalStore,
                                                     amount: str) -> None:
    response = pos.post("/pos/v1/sales", json=sale({"code": "bread"}, pay=amount))
    assert_error(response, 422, "amount")
    assert sales_count(store) == 0


def test_a_payment_as_a_json_number_is_refused(pos: FlaskClient, store: LocalStore) -> None:
    text = json.dumps(sale({"code": "bread"}, pay="X")).replace('"X"', "1.4900000000000002")
    response = pos.post("/pos/v1/sales", data=text, content_type="application/json")
    body = assert_error(response, 422, "amount")
    assert "decimal string" in json.dumps(body["errors"])
    assert sales_count(store) == 0


def test_an_exact_payment_in_cents_gives_exact_change(pos: FlaskClient) -> None:
    response = pos.post("/pos/v1/sales", json=sale({"code": "bread"}, pay="1.50"))
    assert response.status_code == 201
    assert response.get_json()["change"] == "0.35"


# -- 4. units --------------------------------------------------------------------------------

@pytest.mark.parametrize("qty", ["1.5", "0.001"])
def test_fractions_of_a_piece_are_refused(pos: FlaskClient, store: LocalStore,
                                          qty: str) -> None:
    response = pos.post("/pos/v1/sales", json=sale({"code": "4006381333931", "qty": qty}))
    body = assert_error(response, 422, "lines")
    assert "piece" in body["message"]
    assert sales_count(store) == 0


def test_a_measure_may_be_fractional_but_not_worth_less_than_a_cent(pos: FlaskClient) -> None:
    ok = pos.post("/pos/v1/baskets/price", json={"lines": [{"code": "cheese", "qty": "0.25"}]})
    assert ok.status_code == 200 and ok.get_json()["total"] == "3.10"
    tiny = pos.post("/pos/v1/baskets/price", json={"lines": [{"code": "cheese",
                                                              "qty": "0.0001"}]})
    assert_error(tiny, 422)  # 4 decimals
    cent = pos.post("/pos/v1/baskets/price", json={"lines": [{"code": "sand",
                                                              "qty": "0.001"}]})
    body = assert_error(cent, 422, "lines")
    assert "less than a cent" in body["message"]


def test_a_product_has_a_unit_that_reaches_the_till(central: FlaskClient) -> None:
    created = central.post("/api/v1/products/", json=product("cheese", unit="kg"))
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["unit"] == "kg"
    assert central.post("/api/v1/products/", json=product("bread")).get_json()["unit"] == "piece"
    assert_error(central.post("/api/v1/products/", json=product("x", unit="dozen")), 422,
                 "unit")


def test_the_product_page_at_the_till_shows_the_unit(pos: FlaskClient) -> None:
    assert pos.get("/pos/v1/products/2000000000015").get_json()["unit"] == "kg"
    assert pos.get("/pos/v1/products/bread").get_json()["unit"] == "piece"


# -- 5. sku and barcode disagree -------------------------------------------------------------

def test_a_line_whose_sku_and_barcode_disagree_is_refused(pos: FlaskClient,
                                                          store: LocalStore) -> None:
    response = pos.post("/pos/v1/sales", json=sale({"sku": "wine", "barcode": "4006381333931"}))
    body = assert_error(response, 422, "sku")
    assert "same product" in json.dumps(body["errors"])
    assert sales_count(store) == 0
    agree = pos.post("/pos/v1/sales", json=sale({"sku": "bread", "barcode": "4006381333931"}))
    assert agree.status_code == 201


# -- 6. central's 500s -----------------------------------------------------------------------

@pytest.mark.parametrize("resource", ["stores", "store-groups", "categories", "brands",
                                      "families", "products", "prices", "discount-rules",
                                      "promotions", "exclusions", "partner-programmes",
                                      "vip-cards", "fleet", "users"])
def test_a_huge_page_is_a_422_naming_page(central: FlaskClient, resource: str) -> None:
    response = central.get(f"/api/v1/{resource}/?page=1000000000000000000")
    assert_error(response, 422, "page")


def test_an_out_of_range_id_in_a_path_is_a_422(central: FlaskClient) -> None:
    assert_error(central.delete("/api/v1/prices/9223372036854775808"), 422, "id")
    assert_error(central.delete("/api/v1/tokens/99999999999"), 422, "id")


@pytest.mark.parametrize("amount", ["1e26", "1E+30", "100000000000000000000000000000",
                                    "1000000000"])
def test_huge_money_is_a_422_naming_the_field(central: FlaskClient, amount: str) -> None:
    assert_error(central.post("/api/v1/products/", json=product(sale_price=amount)), 422,
                 "sale_price")
    central.post("/api/v1/products/", json=product("p1"))
    assert_error(central.post("/api/v1/prices/", json={"sku": "p1", "price": amount}), 422,
                 "price")
    assert_error(central.post("/api/v1/products/bulk-price", json={
        "mode": "percent", "value": amount, "skus": ["p1"]}), 422, "value")


def test_a_bulk_update_beyond_the_limit_rejects_the_product(central: FlaskClient) -> None:
    central.post("/api/v1/products/", json=product("p1", sale_price="900000000"))
    report = central.post("/api/v1/products/bulk-price", json={
        "mode": "percent", "value": "500", "skus": ["p1"], "preview": False})
    assert report.status_code == 200, report.get_json()
    assert [r["sku"] for r in report.get_json()["rejected"]] == ["p1"]
    assert central.get("/api/v1/products/p1").get_json()["sale_price"] == "900000000.00"


# -- 7. money only as decimal strings, bounded -----------------------------------------------

@pytest.mark.parametrize("raw", ["1.5", "15", "true"])
def test_central_refuses_money_as_a_json_number(central: FlaskClient, raw: str) -> None:
    text = json.dumps(product(sale_price="X")).replace('"X"', raw)
    response = central.post("/api/v1/products/", data=text, content_type="application/json")
    body = assert_error(response, 422, "sale_price")
    assert "decimal string" in json.dumps(body["errors"])


def test_the_largest_price_reads_back_exactly(central: FlaskClient) -> None:
    created = central.post("/api/v1/products/", json=product(sale_price="999999999.99"))
    assert created.status_code == 201
    assert central.get("/api/v1/products/loaf").get_json()["sale_price"] == "999999999.99"
    assert_error(central.post("/api/v1/products/", json=product("p2", sale_price="1e24")), 422,
                 "sale_price")


# -- 11. errors say what is wrong ------------------------------------------------------------

def test_malformed_json_names_json_and_the_position(central: FlaskClient,
                                                    pos: FlaskClient) -> None:
    for client, path in ((central, "/api/v1/products/"), (pos, "/pos/v1/sales")):
        body = assert_error(client.post(path, data='{"sku": "a",}',
                                        content_type="application/json"), 400)
        assert "JSON" in body["message"] and "line 1 column 13" in body["message"]


def test_a_text_body_is_a_415(central: FlaskClient, pos: FlaskClient) -> None:
    for client, path in ((central, "/api/v1/products/"), (pos, "/pos/v1/sales"),
                         (central, "/api/v1/auth/tokens")):
        body = assert_error(client.post(path, data=json.dumps(product()),
                                        content_type="text/plain"), 415)
        assert "application/json" in body["message"]
