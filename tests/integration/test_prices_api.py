"""Prices at central: overrides per store and group, scheduled prices, bulk updates and
imports from CSV and XLSX, through the REST API and the command line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import Workbook
from sqlalchemy import select

from central.db import Database
from central.models import Change, Product

pytestmark = pytest.mark.integration

API = "/api/v1"


@pytest.fixture
def db(central_db: Database) -> Database:
    return central_db


@pytest.fixture
def client(client: FlaskClient) -> Iterator[FlaskClient]:
    """The admin's client, with two stores, categories and three products."""
    ok(client.post(f"{API}/store-groups/", json={"code": "north", "name": "North"}), 201)
    ok(client.post(f"{API}/stores/", json={"code": "k1", "name": "K1", "group": "north"}),
       201)
    for code, parent in (("food", None), ("bakery", "food"), ("drinks", None)):
        ok(client.post(f"{API}/categories/", json={"code": code, "name": code,
                                                   "parent": parent}), 201)
    for sku, category, price, cost in (("BREAD", "bakery", "2.10", "1.20"),
                                       ("MILK", "food", "1.49", "0.85"),
                                       ("COLA", "drinks", "1.29", None)):
        ok(client.post(f"{API}/products/", json={
            "sku": sku, "name": sku.title(), "category": category, "vat_rate": "9",
            "sale_price": price, "purchase_cost": cost}), 201)
    yield client


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def stream(db: Database, name: str) -> list[tuple[int, str, str, Any]]:
    with db.sessions() as session:
        return [(c.version, c.key, c.op, c.data and json.loads(c.data)) for c in
                session.scalars(select(Change).where(Change.stream == name)
                                .order_by(Change.version))]


def prices(db: Database) -> dict[str, tuple[Decimal, Decimal | None]]:
    with db.sessions() as session:
        return {p.sku: (p.sale_price, p.purchase_cost) for p in session.scalars(select(Product))}


def test_a_store_price_travels_on_the_store_stream(client: FlaskClient,
                                                   central_db: Database) -> None:
    entry = ok(client.post(f"{API}/prices/", json={
        "sku": "BREAD", "price": "1.99", "scope": "store", "ref": "k1",
        "effective_from": "2030-01-01T06:00:00+01:00"}), 201)
    assert entry["effective_from"] == "2030-01-01T05:00:00+00:00"
    group = ok(client.post(f"{API}/prices/", json={
        "sku": "BREAD", "price": "2.05", "scope": "group", "ref": "north"}), 201)
    [(version, key, op, data)] = stream(central_db, "prices@s:k1")
    assert (version, key, op) == (1, "BREAD|2030-01-01T05:00:00+00:00", "upsert")
    assert data == {"sku": "BREAD", "price": "1.99",
                    "effective_from": "2030-01-01T05:00:00+00:00"}
    assert len(stream(central_db, "prices@g:north")) == 1
    listed = ok(client.get(f"{API}/prices/?sku=BREAD"))
    assert {(p["scope"], p["ref"], p["price"]) for p in listed} == {
        ("store", "k1", "1.99"), ("group", "north", "2.05")}
    ok(client.delete(f"{API}/prices/{group['id']}"))
    assert [op for _v, _k, op, _d in stream(central_db, "prices@g:north")] == ["upsert",
                                                                               "delete"]


@pytest.mark.parametrize(("body", "field"), [
    ({"sku": "BREAD", "price": "1.99", "scope": "store", "ref": "nowhere"}, "ref"),
    ({"sku": "BREAD", "price": "1.99", "scope": "group"}, "ref"),
    ({"sku": "BREAD", "price": "1.99", "scope": "all", "ref": "k1"}, "ref"),
    ({"sku": "BREAD", "price": "-1", "scope": "all"}, "price"),
    ({"sku": "BREAD", "price": "1.999", "scope": "all"}, "price"),
    ({"sku": "BREAD", "price": "1.99", "scope": "planet"}, "scope"),
    ({"sku": "BREAD", "price": "1.99", "effective_from": "2030-01-01T06:00:00"},
     "effective_from"),
], ids=["unknown-store", "group-without-ref", "all-with-ref", "negative", "three-decimals",
        "bad-scope", "naive-moment"])
def test_bad_prices_are_refused_and_nothing_is_written(client: FlaskClient,
                                                       central_db: Database,
                                                       body: dict[str, Any],
                                                       field: str) -> None:
    answer = client.post(f"{API}/prices/", json=body)
    assert answer.status_code == 422, answer.get_json()
    assert field in answer.get_json()["errors"]
    assert ok(client.get(f"{API}/prices/")) == []


def test_the_same_moment_twice_is_a_conflict(client: FlaskClient) -> None:
    body = {"sku": "MILK", "price": "1.39", "effective_from": "2030-01-01T00:00:00+00:00"}
    ok(client.post(f"{API}/prices/", json=body), 201)
    assert client.post(f"{API}/prices/", json=body).status_code == 409


def test_bulk_percent_preview_writes_nothing_then_apply_does(client: FlaskClient,
                                                             central_db: Database) -> None:
    before = stream(central_db, "catalog")
    preview = ok(client.post(f"{API}/products/bulk-price",
                             json={"mode": "percent", "value": "10", "category": "food"}))
    assert not preview["applied"]
    # The category covers its sub-category: bread (bakery) and milk (food), not cola.
    assert {(c["sku"], c["old"], c["new"]) for c in preview["changes"]} == {
        ("BREAD", "2.10", "2.31"), ("MILK", "1.49", "1.64")}
    assert stream(central_db, "catalog") == before
    assert prices(central_db)["BREAD"][0] == Decimal("2.10")
    applied = ok(client.post(f"{API}/products/bulk-price", json={
        "mode": "percent", "value": "10", "category": "food", "preview": False}))
    assert applied["applied"] and len(applied["changes"]) == 2
    assert prices(central_db)["BREAD"][0] == Decimal("2.31")
    assert len(stream(central_db, "catalog")) == len(before) + 2


def test_bulk_amount_on_costs_rejects_what_would_go_negative(client: FlaskClient,
                                                             central_db: Database) -> None:
    report = ok(client.post(f"{API}/products/bulk-price", json={
        "field": "purchase_cost", "mode": "amount", "value": "-1.00",
        "skus": ["BREAD", "MILK", "COLA", "GHOST"], "preview": False}))
    assert [c["sku"] for c in report["changes"]] == ["BREAD"]
    assert {r["sku"] for r in report["rejected"]} == {"MILK", "COLA", "GHOST"}
    assert prices(central_db)["BREAD"][1] == Decimal("0.20")
    assert prices(central_db)["MILK"][1] == Decimal("0.85")


def test_bulk_needs_a_selection(client: FlaskClient) -> None:
    answer = client.post(f"{API}/products/bulk-price", json={"mode": "percent", "value": "5"})
    assert answer.status_code == 422


def test_price_file_in_csv_reports_rejected_rows(client: FlaskClient,
                                                 central_db: Database) -> None:
    data = "sku;sale_price;purchase_cost\nBREAD;2,20;\nGHOST;1.00;\nMILK;abc;\nCOLA;;0.70\n"
    report = ok(client.post(f"{API}/products/bulk-price/file?preview=false",
                            data=data.encode(), content_type="text/csv"))
    assert {(r["line"], r["sku"]) for r in report["rejected"]} == {(3, "GHOST"), (4, "MILK")}
    assert prices(central_db)["BREAD"] == (Decimal("2.20"), Decimal("1.20"))
    assert prices(central_db)["COLA"] == (Decimal("1.29"), Decimal("0.70"))


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_product_import_from_excel(client: FlaskClient, central_db: Database) -> None:
    data = xlsx([["SKU", "Name", "Category", "VAT rate", "Sale price", "Barcodes"],
                 ["TEA", "Green tea", "drinks", 19, 3.49, "4006381333931"],
                 ["BAD", "Bad", "nowhere", 19, 1, ""],
                 ["MILK", None, None, None, 1.59, None],
                 ["NOPRICE", "No price", "food", 9, None, None]])
    preview = ok(client.post(f"{API}/products/import", data={
        "file": (io.BytesIO(data), "products.xlsx")}, content_type="multipart/form-data"))
    assert not preview["applied"] and "TEA" not in prices(central_db)
    report = ok(client.post(f"{API}/products/import?preview=false", data={
        "file": (io.BytesIO(data), "products.xlsx")}, content_type="multipart/form-data"))
    assert {c["sku"]: c["action"] for c in report["changes"]} == {"TEA": "create",
                                                                  "MILK": "update"}
    assert {r["sku"] for r in report["rejected"]} == {"BAD", "NOPRICE"}
    tea = ok(client.get(f"{API}/products/TEA"))
    assert (tea["sale_price"], tea["barcodes"]) == ("3.49", ["4006381333931"])
    assert prices(central_db)["MILK"][0] == Decimal("1.59")


def test_a_file_that_is_no_table_is_refused(client: FlaskClient) -> None:
    answer = client.post(f"{API}/products/import", data=b"\xff\xfe\x00garbage",
                         content_type="application/octet-stream")
    assert answer.status_code == 422 and "file" in answer.get_json()["errors"]


def test_command_line_import_previews_then_applies(client: FlaskClient, central_db: Database,
                                                   tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("sku,sale_price\nBREAD,2.40\nGHOST,1\n")
    env = {"TESSERA_DATABASE_URL": central_db.url, "PATH": "/usr/bin:/bin"}
    preview = subprocess.run([sys.executable, "-m", "tessera", "central", "import-prices",
                              str(path)], env=env, capture_output=True, text=True, timeout=60)
    assert preview.returncode == 0, preview.stderr
    assert "1 changes would apply" in preview.stdout and "GHOST" in preview.stderr
    assert prices(central_db)["BREAD"][0] == Decimal("2.10")
    applied = subprocess.run([sys.executable, "-m", "tessera", "central", "import-prices",
                              str(path), "--apply"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert applied.returncode == 0, applied.stderr
    assert prices(central_db)["BREAD"][0] == Decimal("2.40")
