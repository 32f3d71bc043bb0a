"""The head-office REST API, on PostgreSQL and on SQLite, through Flask's test client."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from central.db import Database
from central.models import Barcode, Change, Product

pytestmark = pytest.mark.integration

API = "/api/v1"


@pytest.fixture
def db(central_db: Database) -> Database:
    return central_db


def changes(db: Database, stream: str | None = None) -> list[tuple[str, int, str, str, str]]:
    with db.sessions() as session:
        query = select(Change).order_by(Change.id)
        if stream is not None:
            query = query.where(Change.stream == stream)
        return [(c.stream, c.version, c.entity, c.key, c.op) for c in session.scalars(query)]


def change_data(db: Database, stream: str) -> Any:
    with db.sessions() as session:
        row = session.scalars(select(Change).where(Change.stream == stream)
                              .order_by(Change.version.desc())).first()
        assert row is not None and row.data is not None
        return json.loads(row.data)


def count(db: Database, model: Any) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def field_errors(body: dict[str, Any]) -> set[str]:
    """Fields named by an error answer (schema errors come under "json")."""
    errors = body.get("errors") or {}
    return set(errors.get("json", errors))


def assert_error(response: Any, status: int, *fields: str) -> dict[str, Any]:
    body: dict[str, Any] = response.get_json()
    assert response.status_code == status, body
    assert response.content_type == "application/json"
    assert body["code"] == status and body["status"] and body["message"]
    assert set(fields) <= field_errors(body), body
    return body


def pagination(response: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(response.headers["X-Pagination"])
    return result


@pytest.fixture
def catalogue(client: FlaskClient) -> None:
    """Two categories (drinks under food), two brands and three products."""
    ok(client.post(f"{API}/categories/", json={"code": "food", "name": "Food"}), 201)
    ok(client.post(f"{API}/categories/", json={"code": "drinks", "name": "Drinks",
                                               "parent": "food"}), 201)
    ok(client.post(f"{API}/brands/", json={"code": "acme", "name": "Acme"}), 201)
    ok(client.post(f"{API}/brands/", json={"code": "zeta", "name": "Zeta"}), 201)
    for sku, name, category, brand, barcodes in [
        ("SKU-1", "White Bread", "food", "acme", ["4006381333931"]),
        ("SKU-2", "Brown bread", "food", "zeta", ["96385074", "INT-2"]),
        ("SKU-3", "Orange juice", "drinks", "acme", []),
    ]:
        ok(client.post(f"{API}/products/", json={
            "sku": sku, "name": name, "category": category, "brand": brand,
            "vat_rate": "9.00", "sale_price": "2.10", "barcodes": barcodes}), 201)


# -- stores and groups ------------------------------------------------------------------------

def test_store_groups_can_be_created_read_renamed_and_listed(client: FlaskClient) -> None:
    assert ok(client.post(f"{API}/store-groups/", json={"code": "north", "name": "North"}),
              201) == {"code": "north", "name": "North"}
    ok(client.post(f"{API}/store-groups/", json={"code": "south", "name": "South"}), 201)
    assert ok(client.patch(f"{API}/store-groups/north", json={"name": "Up north"})) == {
        "code": "north", "name": "Up north"}
    assert ok(client.get(f"{API}/store-groups/north"))["name"] == "Up north"
    listed = client.get(f"{API}/store-groups/")
    assert [g["code"] for g in ok(listed)] == ["north", "south"]
    assert pagination(listed)["total"] == 2
    assert_error(client.post(f"{API}/store-groups/", json={"code": "north", "name": "N"}), 409)
    assert_error(client.get(f"{API}/store-groups/west"), 404)


def test_a_store_has_a_time_zone_sent_to_it_in_its_record(client: FlaskClient,
                                                          db: Database) -> None:
    created = ok(client.post(f"{API}/stores/", json={"code": "kiosk-1", "name": "Kiosk"}), 201)
    assert created["time_zone"] == "Europe/Rome"  # central's default
    lisbon = ok(client.post(f"{API}/stores/", json={"code": "porto", "name": "Porto",
                                                    "time_zone": "Europe/Lisbon"}), 201)
    assert lisbon["time_zone"] == "Europe/Lisbon"
    assert change_data(db, "store-config@s:porto")["time_zone"] == "Europe/Lisbon"
    moved = ok(client.patch(f"{API}/stores/kiosk-1", json={"time_zone": "America/New_York"}))
    assert moved["time_zone"] == "America/New_York"
    assert change_data(db, "store-config@s:kiosk-1")["time_zone"] == "America/New_York"
    for bad in ("Mars/Olympus", "", "../etc/passwd", " Europe/Rome"):
        body = assert_error(client.patch(f"{API}/stores/kiosk-1", json={"time_zone": bad}),
                            422)
        assert "time_zone" in body["errors"], bad
        assert_error(client.post(f"{API}/stores/", json={"code": "x", "name": "X",
                                                         "time_zone": bad}), 422)
    assert ok(client.get(f"{API}/stores/kiosk-1"))["time_zone"] == "America/New_York"
    assert [c[0] for c in changes(db)].count("store-config@s:kiosk-1") == 2


def test_each_store_write_adds_one_change_to_the_stores_own_stream(client: FlaskClient,
                                                                   db: Database) -> None:
    ok(client.post(f"{API}/store-groups/", json={"code": "north", "name": "North"}), 201)
    created = ok(client.post(f"{API}/stores/", json={"code": "kiosk-1", "name": "Kiosk",
                                                     "group": "north"}), 201)
    assert {k: created[k] for k in ("code", "name", "group", "active")} == {
        "code": "kiosk-1", "name": "Kiosk", "group": "north", "active": True}
    stream = "store-config@s:kiosk-1"
    assert changes(db) == [(stream, 1, "store", "kiosk-1", "upsert")]

    ok(client.patch(f"{API}/stores/kiosk-1", json={"name": "Kiosk one", "group": None}))
    assert change_data(db, stream) == {"code": "kiosk-1", "name": "Kiosk one", "group": None,
                                       "active": True, "time_zone": "Europe/Rome"}
    assert ok(client.delete(f"{API}/stores/kiosk-1"))["active"] is False
    assert change_data(db, stream)["active"] is False
    assert ok(client.get(f"{API}/stores/kiosk-1"))["active"] is False

    ok(client.post(f"{API}/stores/", json={"code": "market", "name": "Market"}), 201)
    assert changes(db) == [(stream, 1, "store", "kiosk-1", "upsert"),
                           (stream, 2, "store", "kiosk-1", "upsert"),
                           (stream, 3, "store", "kiosk-1", "upsert"),
                           ("store-config@s:market", 1, "store", "market", "upsert")]


def test_stores_are_listed_by_group_and_active_flag(client: FlaskClient) -> None:
    ok(client.post(f"{API}/store-groups/", json={"code": "north", "name": "North"}), 201)
    for code, group in [("a", "north"), ("b", None), ("c", "north")]:
        ok(client.post(f"{API}/stores/", json={"code": code, "name": code.upper(),
                                               "group": group}), 201)
    ok(client.delete(f"{API}/stores/c"))

    def codes(query: str) -> list[str]:
        return [s["code"] for s in ok(client.get(f"{API}/stores/{query}"))]

    assert codes("") == ["a", "b", "c"]
    assert codes("?group=north") == ["a", "c"]
    assert codes("?active=true") == ["a", "b"]
    assert codes("?group=north&active=false") == ["c"]


@pytest.mark.parametrize("body, status, field", [
    ({"code": "k", "name": "K", "group": "nowhere"}, 422, "group"),
    ({"code": "k"}, 422, "name"),
    ({"name": "K"}, 422, "code"),
    ({"code": "-k", "name": "K"}, 422, "code"),
    ({"code": "k", "name": ""}, 422, "name"),
    ({"code": "dup", "name": "Again"}, 409, "code"),
])
def test_refused_stores_write_nothing(client: FlaskClient, db: Database, body: dict[str, Any],
                                      status: int, field: str) -> None:
    ok(client.post(f"{API}/stores/", json={"code": "dup", "name": "Dup"}), 201)
    before = changes(db)
    assert_error(client.post(f"{API}/stores/", json=body), status, field)
    assert changes(db) == before
    assert [s["code"] for s in ok(client.get(f"{API}/stores/"))] == ["dup"]


# -- categories and brands --------------------------------------------------------------------

def test_categories_form_a_tree_and_each_write_is_one_catalog_change(client: FlaskClient,
                                                                      db: Database) -> None:
    ok(client.post(f"{API}/categories/", json={"code": "food", "name": "Food"}), 201)
    assert ok(client.post(f"{API}/categories/", json={"code": "dairy", "name": "Dairy",
                                                      "parent": "food"}), 201) == {
        "code": "dairy", "name": "Dairy", "parent": "food", "active": True}
    ok(client.patch(f"{API}/categories/dairy", json={"name": "Milk and cheese"}))
    assert ok(client.get(f"{API}/categories/dairy"))["name"] == "Milk and cheese"
    assert ok(client.delete(f"{API}/categories/dairy"))["active"] is False
    assert [c["code"] for c in ok(client.get(f"{API}/categories/?active=true"))] == ["food"]
    assert changes(db) == [("catalog", v, "category", key, "upsert")
                           for v, key in enumerate(["food", "dairy", "dairy", "dairy"], 1)]
    assert change_data(db, "catalog") == {"code": "dairy", "name": "Milk and cheese",
                                          "parent": "food", "active": False}


@pytest.mark.parametrize("code, parent", [
    ("a", "a"),  # itself
    ("a", "b"),  # its child
    ("a", "c"),  # its grandchild
    ("b", "c"),
])
def test_a_category_cannot_become_its_own_ancestor(client: FlaskClient, db: Database,
                                                   code: str, parent: str) -> None:
    ok(client.post(f"{API}/categories/", json={"code": "a", "name": "A"}), 201)
    ok(client.post(f"{API}/categories/", json={"code": "b", "name": "B", "parent": "a"}), 201)
    ok(client.post(f"{API}/categories/", json={"code": "c", "name": "C", "parent": "b"}), 201)
    before = changes(db)
    assert_error(client.patch(f"{API}/categories/{code}", json={"parent": parent}), 422,
                 "parent")
    assert changes(db) == before
    assert [(c["code"], c["parent"]) for c in ok(client.get(f"{API}/categories/"))] == [
        ("a", None), ("b", "a"), ("c", "b")]


def test_a_category_can_move_elsewhere_in_the_tree(client: FlaskClient) -> None:
    for code, parent in [("a", None), ("b", "a"), ("c", "b")]:
        ok(client.post(f"{API}/categories/", json={"code": code, "name": code,
                                                   "parent": parent}), 201)
    assert ok(client.patch(f"{API}/categories/c", json={"parent": "a"}))["parent"] == "a"
    assert ok(client.patch(f"{API}/categories/b", json={"parent": "c"}))["parent"] == "c"
    assert ok(client.patch(f"{API}/categories/b", json={"parent": None}))["parent"] is None


@pytest.mark.parametrize("body, status, field", [
    ({"code": "x", "name": "X", "parent": "nope"}, 422, "parent"),
    ({"code": "food", "name": "Again"}, 409, "code"),
    ({"code": "x"}, 422, "name"),
])
def test_refused_categories_write_nothing(client: FlaskClient, db: Database,
                                          body: dict[str, Any], status: int, field: str) -> None:
    ok(client.post(f"{API}/categories/", json={"code": "food", "name": "Food"}), 201)
    before = changes(db)
    assert_error(client.post(f"{API}/categories/", json=body), status, field)
    assert changes(db) == before


def test_brands_can_be_created_renamed_deactivated_and_listed(client: FlaskClient,
                                                              db: Database) -> None:
    assert ok(client.post(f"{API}/brands/", json={"code": "acme", "name": "Acme"}), 201) == {
        "code": "acme", "name": "Acme", "active": True}
    ok(client.post(f"{API}/brands/", json={"code": "zeta", "name": "Zeta"}), 201)
    assert ok(client.patch(f"{API}/brands/acme", json={"name": "ACME"}))["name"] == "ACME"
    assert ok(client.delete(f"{API}/brands/zeta"))["active"] is False
    assert [b["code"] for b in ok(client.get(f"{API}/brands/?active=false"))] == ["zeta"]
    assert ok(client.get(f"{API}/brands/acme")) == {"code": "acme", "name": "ACME",
                                                    "active": True}
    assert_error(client.post(f"{API}/brands/", json={"code": "acme", "name": "A"}), 409, "code")
    assert_error(client.get(f"{API}/brands/nope"), 404)
    assert [c[1:] for c in changes(db)] == [(1, "brand", "acme", "upsert"),
                                            (2, "brand", "zeta", "upsert"),
                                            (3, "brand", "acme", "upsert"),
                                            (4, "brand", "zeta", "upsert")]


# -- products ---------------------------------------------------------------------------------

def test_a_product_is_created_read_changed_and_deactivated(client: FlaskClient, db: Database,
                                                           catalogue: None) -> None:
    first = len(changes(db, "catalog"))
    created = ok(client.post(f"{API}/products/", json={
        "sku": "SKU-9", "name": "Cheese", "category": "food", "brand": "acme",
        "vat_rate": "9", "purchase_cost": "3.20", "sale_price": "4.99",
        "barcodes": ["5901234123457"]}), 201)
    assert {k: created[k] for k in ("sku", "name", "category", "brand", "barcodes",
                                    "active")} == {
        "sku": "SKU-9", "name": "Cheese", "category": "food", "brand": "acme",
        "barcodes": ["5901234123457"], "active": True}

    read = ok(client.get(f"{API}/products/SKU-9"))
    assert (read["vat_rate"], read["purchase_cost"], read["sale_price"]) == ("9.00", "3.20",
                                                                             "4.99")
    changed = ok(client.patch(f"{API}/products/SKU-9", json={"sale_price": "5.49",
                                                             "brand": None}))
    assert (changed["sale_price"], changed["brand"]) == ("5.49", None)
    assert ok(client.delete(f"{API}/products/SKU-9"))["active"] is False
    assert ok(client.get(f"{API}/products/SKU-9"))["active"] is False

    new = changes(db, "catalog")[first:]
    assert [c[1:] for c in new] == [(first + 1, "product", "SKU-9", "upsert"),
                                    (first + 2, "product", "SKU-9", "upsert"),
                                    (first + 3, "product", "SKU-9", "upsert")]
    wire = change_data(db, "catalog")
    assert wire["sale_price"] == "5.49" and wire["active"] is False
    assert wire["barcodes"] == ["5901234123457"]
    assert "purchase_cost" not in wire  # the cost price stays at head office


def test_money_is_returned_as_strings(client: FlaskClient, catalogue: None) -> None:
    for product in ok(client.get(f"{API}/products/")):
        assert isinstance(product["sale_price"], str) and isinstance(product["vat_rate"], str)
    ok(client.patch(f"{API}/products/SKU-1", json={"purchase_cost": "1.05"}))
    assert ok(client.get(f"{API}/products/SKU-1"))["purchase_cost"] == "1.05"


@pytest.mark.parametrize("text", ["1.1", "0.1", "2.675", "1e1", "7"])
def test_money_as_a_json_number_is_refused(client: FlaskClient, db: Database,
                                           text: str) -> None:
    """Money is a decimal string on the wire (issue 10): a JSON number is not guessed at."""
    body = (f'{{"sku": "F", "name": "Float", "vat_rate": "21", "sale_price": {text}}}')
    response = client.post(f"{API}/products/", data=body, content_type="application/json")
    assert_error(response, 422, "sale_price")
    with db.sessions() as session:
        assert session.scalar(select(Product.sale_price).where(Product.sku == "F")) is None


@pytest.mark.parametrize("text, stored", [("1.1", "1.10"), ("0.1", "0.10"), ("2.675", None),
                                          ("7", "7.00"), ("1e1", None)])
def test_a_decimal_string_is_read_exactly(client: FlaskClient, db: Database, text: str,
                                          stored: str | None) -> None:
    response = client.post(f"{API}/products/", json={"sku": "F", "name": "F", "vat_rate": "21",
                                                     "sale_price": text})
    if stored is None:
        assert_error(response, 422, "sale_price")  # three decimals, not silently rounded
        return
    ok(response, 201)
    with db.sessions() as session:
        price = session.scalar(select(Product.sale_price).where(Product.sku == "F"))
    assert price == Decimal(stored)
    assert ok(client.get(f"{API}/products/F"))["sale_price"] == stored


def test_products_are_paginated(client: FlaskClient, catalogue: None) -> None:
    first = client.get(f"{API}/products/?page_size=2")
    assert [p["sku"] for p in ok(first)] == ["SKU-1", "SKU-2"]
    assert pagination(first) == {"total": 3, "total_pages": 2, "first_page": 1,
                                 "last_page": 2, "page": 1, "next_page": 2}
    second = client.get(f"{API}/products/?page_size=2&page=2")
    assert [p["sku"] for p in ok(second)] == ["SKU-3"]
    assert pagination(second)["page"] == 2 and pagination(second)["previous_page"] == 1
    assert ok(client.get(f"{API}/products/?page_size=2&page=3")) == []


@pytest.mark.parametrize("query, skus", [
    ("", ["SKU-1", "SKU-2", "SKU-3"]),
    ("?q=bread", ["SKU-1", "SKU-2"]),
    ("?q=BREAD", ["SKU-1", "SKU-2"]),
    ("?q=juice", ["SKU-3"]),
    ("?q=nothing", []),
    ("?category=food", ["SKU-1", "SKU-2"]),
    ("?category=drinks", ["SKU-3"]),
    ("?brand=acme", ["SKU-1", "SKU-3"]),
    ("?brand=acme&category=food", ["SKU-1"]),
    ("?barcode=96385074", ["SKU-2"]),
    ("?barcode=INT-2", ["SKU-2"]),
    ("?barcode=4006381333931", ["SKU-1"]),
    ("?barcode=00000000", []),
    ("?active=false", ["SKU-3"]),
    ("?active=true&q=bread", ["SKU-1", "SKU-2"]),
])
def test_products_are_filtered(client: FlaskClient, catalogue: None, query: str,
                               skus: list[str]) -> None:
    ok(client.delete(f"{API}/products/SKU-3"))
    response = client.get(f"{API}/products/{query}")
    assert [p["sku"] for p in ok(response)] == skus
    assert pagination(response)["total"] == len(skus)


def test_unknown_product_is_a_json_404(client: FlaskClient) -> None:
    for response in (client.get(f"{API}/products/NOPE"),
                     client.patch(f"{API}/products/NOPE", json={"name": "x"}),
                     client.delete(f"{API}/products/NOPE")):
        body = assert_error(response, 404)
        assert "NOPE" in body["message"]


VALID_PRODUCT = {"sku": "NEW", "name": "New product", "vat_rate": "21", "sale_price": "1.99",
                 "category": "food", "brand": "acme", "barcodes": ["73513537"]}

INVALID_PRODUCTS = {
    "negative price": ({"sale_price": "-0.01"}, "sale_price"),
    "negative cost": ({"purchase_cost": "-1"}, "purchase_cost"),
    "three decimals": ({"sale_price": "1.999"}, "sale_price"),
    "vat over 100": ({"vat_rate": "100.01"}, "vat_rate"),
    "negative vat": ({"vat_rate": "-1"}, "vat_rate"),
    "vat with three decimals": ({"vat_rate": "9.125"}, "vat_rate"),
    "not a number": ({"sale_price": "cheap"}, "sale_price"),
    "NaN": ({"sale_price": "NaN"}, "sale_price"),
    "bad EAN-13 check digit": ({"barcodes": ["4006381333932"]}, "barcodes"),
    "bad EAN-8 check digit": ({"barcodes": ["96385075"]}, "barcodes"),
    "barcode twice": ({"barcodes": ["96385074", "96385074"]}, "barcodes"),
    "unknown category": ({"category": "nope"}, "category"),
    "unknown brand": ({"brand": "nope"}, "brand"),
    "bad sku": ({"sku": "has space"}, "sku"),
    "empty name": ({"name": ""}, "name"),
    "missing sku": ({"sku": None}, "sku"),
    "missing name": ({"name": None}, "name"),
    "missing price": ({"sale_price": None}, "sale_price"),
    "missing vat": ({"vat_rate": None}, "vat_rate"),
}


@pytest.mark.parametrize("change, field", INVALID_PRODUCTS.values(),
                         ids=INVALID_PRODUCTS.keys())
def test_invalid_products_are_refused_and_nothing_is_written(
        client: FlaskClient, db: Database, catalogue: None, change: dict[str, Any],
        field: str) -> None:
    body = {k: v for k, v in {**VALID_PRODUCT, **change}.items() if v is not None}
    before = (changes(db), count(db, Product), count(db, Barcode))
    assert_error(client.post(f"{API}/products/", json=body), 422, field)
    assert (changes(db), count(db, Product), count(db, Barcode)) == before
    assert_error(client.get(f"{API}/products/{body.get('sku', 'NEW')}"), 404)


@pytest.mark.parametrize("change, field", [
    ({"name": "Renamed", "sale_price": "-1"}, "sale_price"),
    ({"name": "Renamed", "vat_rate": "101"}, "vat_rate"),
    ({"name": "Renamed", "barcodes": ["4006381333932"]}, "barcodes"),
    ({"name": "Renamed", "category": "nope"}, "category"),
    ({}, "_schema"),
], ids=["negative price", "vat over 100", "bad check digit", "unknown category", "no change"])
def test_invalid_updates_change_nothing(client: FlaskClient, db: Database, catalogue: None,
                                        change: dict[str, Any], field: str) -> None:
    before = (changes(db), ok(client.get(f"{API}/products/SKU-2")))
    assert_error(client.patch(f"{API}/products/SKU-2", json=change), 422, field)
    assert (changes(db), ok(client.get(f"{API}/products/SKU-2"))) == before


@pytest.mark.parametrize("change, field", [
    ({"sku": "SKU-1"}, "sku"),
    ({"barcodes": ["4006381333931"]}, "barcodes"),
    ({"barcodes": ["73513537", "INT-2"]}, "barcodes"),
], ids=["duplicate sku", "barcode of another product", "one of the barcodes taken"])
def test_conflicts_with_other_products_are_409_and_write_nothing(
        client: FlaskClient, db: Database, catalogue: None, change: dict[str, Any],
        field: str) -> None:
    before = (changes(db), count(db, Product), count(db, Barcode))
    assert_error(client.post(f"{API}/products/", json={**VALID_PRODUCT, **change}), 409, field)
    assert (changes(db), count(db, Product), count(db, Barcode)) == before


def test_barcode_taken_by_another_product_on_update_is_409(client: FlaskClient, db: Database,
                                                           catalogue: None) -> None:
    before = changes(db)
    assert_error(client.patch(f"{API}/products/SKU-3", json={"barcodes": ["96385074"]}), 409,
                 "barcodes")
    assert changes(db) == before
    assert ok(client.get(f"{API}/products/SKU-3"))["barcodes"] == []


def test_barcodes_can_move_between_products_once_freed(client: FlaskClient, db: Database,
                                                       catalogue: None) -> None:
    ok(client.patch(f"{API}/products/SKU-2", json={"barcodes": ["INT-2"]}))
    moved = ok(client.patch(f"{API}/products/SKU-3", json={"barcodes": ["96385074"]}))
    assert moved["barcodes"] == ["96385074"]
    assert [p["sku"] for p in ok(client.get(f"{API}/products/?barcode=96385074"))] == ["SKU-3"]
    kept = ok(client.patch(f"{API}/products/SKU-2", json={"barcodes": ["INT-2", "INT-3"]}))
    assert kept["barcodes"] == ["INT-2", "INT-3"]


def test_each_catalogue_write_adds_exactly_one_change(client: FlaskClient, db: Database) -> None:
    writes = [
        ("post", "categories/", {"code": "food", "name": "Food"}, "category", "food"),
        ("post", "brands/", {"code": "acme", "name": "Acme"}, "brand", "acme"),
        ("post", "products/", {"sku": "P", "name": "P", "vat_rate": "9", "sale_price": "1",
                               "category": "food", "barcodes": ["96385074"]}, "product", "P"),
        ("patch", "products/P", {"sale_price": "2"}, "product", "P"),
        ("patch", "products/P", {"barcodes": []}, "product", "P"),
        ("patch", "categories/food", {"name": "Groceries"}, "category", "food"),
        ("patch", "brands/acme", {"active": False}, "brand", "acme"),
        ("delete", "products/P", None, "product", "P"),
        ("delete", "brands/acme", None, "brand", "acme"),
        ("delete", "categories/food", None, "category", "food"),
    ]
    # A delete deactivates (an upsert with active false) and answers the record.
    for version, (method, path, body, entity, key) in enumerate(writes, start=1):
        response = getattr(client, method)(f"{API}/{path}", json=body)
        assert response.status_code == {"post": 201, "patch": 200, "delete": 200}[method], \
            response.get_json()
        assert changes(db)[-1] == ("catalog", version, entity, key, "upsert")
        assert len(changes(db)) == version


# -- the API document -------------------------------------------------------------------------

def test_the_openapi_document_lists_every_path(client: FlaskClient) -> None:
    spec = ok(client.get("/api/openapi.json"))
    documented = set(spec["paths"])
    served = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
              for rule in client.application.url_map.iter_rules()
              if rule.rule.startswith(f"{API}/")}
    assert served == documented
    for resource in ("stores", "store-groups", "categories", "brands", "products", "sales"):
        assert f"{API}/{resource}/" in documented
    assert f"{API}/products/{{sku}}" in documented


def test_unknown_urls_and_methods_answer_in_the_error_shape(client: FlaskClient) -> None:
    assert_error(client.get(f"{API}/nothing-here"), 404)
    assert_error(client.put(f"{API}/products/SKU-1", json={}), 405)
    assert_error(client.post(f"{API}/products/", data="{not json",
                             content_type="application/json"), 400)
