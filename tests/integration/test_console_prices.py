"""The console's price pages on real PostgreSQL: store and group overrides, scheduled
changes, and new prices from a CSV/Excel file previewed row by row, then confirmed."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from openpyxl import Workbook

from central.db import Database
from central.models import PriceEntry
from central.services import catalog, stores
from tests.integration import test_console as console
from tests.integration.test_console import Clock, csrf

pytestmark = pytest.mark.integration

# The console's fixtures (an app on a clean database and its clock, an admin signed in).
app_config, clock, signed_in = console.app_config, console.clock, console.signed_in


@pytest.fixture
def shop(clean_pg_db: Database) -> Database:
    with clean_pg_db.transaction() as session:
        stores.create_group(session, "north", "North")
        stores.create_store(session, "kiosk-1", "Kiosk", "north")
        for i, name in enumerate(["Tea", "Coffee", "Milk"]):
            catalog.create_product(session, {"sku": f"P-{i}", "name": name,
                                             "vat_rate": Decimal("22"),
                                             "sale_price": Decimal("1.00")})
    return clean_pg_db


def entries(db: Database) -> list[tuple[str, str, str, Decimal, str]]:
    with db.sessions() as session:
        return [(e.product.sku, e.scope, e.scope_ref, e.price,
                 e.effective_from.isoformat()) for e in session.query(PriceEntry)
                .order_by(PriceEntry.id)]


def test_overrides_and_scheduled_prices_are_added_listed_and_removed(
        signed_in: FlaskClient, shop: Database, clock: Clock) -> None:
    token = csrf(signed_in, "/prices")
    for form in ({"sku": "P-0", "price": "0,95", "scope": "group", "ref": "north"},
                 {"sku": "P-0", "price": "0.90", "scope": "store", "ref": "kiosk-1",
                  "effective_from": "2026-04-01T08:00"}):
        response = signed_in.post("/prices", data={"csrf_token": token, **form})
        assert response.status_code == 303, response.get_data(as_text=True)
    # The store's price is from 08:00 in the store's zone (Europe/Rome: UTC+2 in April).
    assert entries(shop) == [
        ("P-0", "group", "north", Decimal("0.95"), clock.now.isoformat()),
        ("P-0", "store", "kiosk-1", Decimal("0.90"), "2026-04-01T06:00:00+00:00")]
    page = signed_in.get("/prices?sku=P-0").get_data(as_text=True)
    assert "group north" in page and "store kiosk-1" in page and "€0.95" in page
    assert page.count("<mark>scheduled</mark>") == 1  # only April's is still to come
    bad = signed_in.post("/prices", data={"csrf_token": token, "sku": "P-0", "price": "1",
                                          "scope": "store", "ref": "nowhere"})
    assert bad.status_code == 422 and "no store &#39;nowhere&#39;" in bad.get_data(
        as_text=True)
    assert signed_in.post("/prices", data={"csrf_token": token, "sku": "P-0",
                                           "price": "-1"}).status_code == 422
    assert len(entries(shop)) == 2  # nothing written by the refusals
    entry_id = re.findall(r'action="/prices/(\d+)/delete"', page)[0]
    assert signed_in.post(f"/prices/{entry_id}/delete",
                          data={"csrf_token": token}).status_code == 303
    assert [e[1] for e in entries(shop)] == ["store"]
    assert signed_in.post("/prices/999999/delete", data={"csrf_token": token}
                          ).status_code == 404


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_price_file_is_previewed_row_by_row_and_applied_only_as_previewed(
        signed_in: FlaskClient, shop: Database) -> None:
    token = csrf(signed_in, "/prices/file")
    data = xlsx([["sku", "sale_price", "purchase_cost"], ["P-0", "1.20", ""],
                 ["P-1", "1,50", "0.70"], ["P-2", "1.00", ""], ["NOPE", "2", ""],
                 ["P-2", "abc", ""]])
    preview = signed_in.post("/prices/file", data={
        "csrf_token": token, "action": "preview", "file": (io.BytesIO(data), "new.xlsx")},
        content_type="multipart/form-data")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200, page
    assert "3 to change, 1 unchanged, 2 rejected" in page
    assert 'data-sku="P-0"' in page and "€1.20" in page and "€1.50" in page
    assert "unknown product &#39;NOPE&#39;" in page and "not an amount" in page
    with shop.sessions() as session:  # a preview writes nothing
        assert catalog.get_product(session, "P-0").sale_price == Decimal("1.00")
    form = {name: re.search(rf'name="{name}" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
            for name in ("expected", "filename", "content")}
    with shop.transaction() as session:  # someone edits a product meanwhile
        catalog.update_product(session, "P-1", {"sale_price": Decimal("1.50")})
    stale = signed_in.post("/prices/file", data={"csrf_token": token, "action": "apply",
                                                 **form})
    assert stale.status_code == 409 and "2 to change" in stale.get_data(as_text=True)
    with shop.sessions() as session:
        assert catalog.get_product(session, "P-0").sale_price == Decimal("1.00")
    form["expected"] = re.search(r'name="expected" value="([^"]*)"',  # type: ignore[union-attr]
                                 stale.get_data(as_text=True)).group(1)
    done = signed_in.post("/prices/file", data={"csrf_token": token, "action": "apply",
                                                **form})
    assert done.status_code == 200 and "2 prices changed" in done.get_data(as_text=True)
    with shop.sessions() as session:
        assert catalog.get_product(session, "P-0").sale_price == Decimal("1.20")
        assert catalog.get_product(session, "P-1").purchase_cost == Decimal("0.70")
    unreadable = signed_in.post("/prices/file", data={
        "csrf_token": token, "action": "preview",
        "file": (io.BytesIO(b"PK\x03\x04 broken"), "x.xlsx")},
        content_type="multipart/form-data")
    assert unreadable.status_code == 422 and "cannot be read" in unreadable.get_data(
        as_text=True)
    empty = signed_in.post("/prices/file", data={"csrf_token": token, "action": "apply"})
    assert empty.status_code == 422
