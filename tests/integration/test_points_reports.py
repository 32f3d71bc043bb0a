"""Head office's points reports on PostgreSQL: points drift and overspent balances over
REST and in the console, the sale page's points, and the drift metric; two offline stores
spending the same points make a negative balance that is shown, nothing refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from central.db import Database
from central.roles import MARKETING, TECHNICIAN
from central.services import catalog, loyalty_profiles, loyalty_programme, points_ledger, stores
from tests.integration.test_console import app_config, clock, make_user, sign_in
from tests.integration.test_customers import edit_entry, ingest
from tests.integration.test_ingest import STORE, batch
from tests.integration.test_sale_loyalty import NOW, SEED, D, line, loyal_sale
from tests.support import api_token, authorize

__all__ = ["app_config", "clock"]  # the console's settings for the shared app fixture

pytestmark = pytest.mark.integration

OTHER = "kiosk-2"


@pytest.fixture
def overspent(clean_pg_db: Database) -> Iterator[dict[str, str]]:
    """A customer with 100 points takes a 64-point gift at two stores that were offline."""
    db = clean_pg_db
    with db.transaction() as session:
        stores.create_store(session, STORE, "Kiosk")
        stores.create_store(session, OTHER, "Kiosk two")
        loyalty_profiles.create_profile(session, "BASE", {
            "description": "Standard", "default": True, "card_prefix": "29",
            "discount_percent": D(0), "accrual": SEED}, NOW)
        catalog.create_product(session, {"sku": "BALL", "name": "Ball", "vat_rate": D("22"),
                                         "sale_price": D("5.10")})
        loyalty_programme.put_level(session, "L1", D(64), "Level 1")
        loyalty_programme.put_gift(session, "BALL", "L1")
    cid = str(uuid.uuid4())
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana"})))
    with db.transaction() as session:
        points_ledger.adjust(session, cid, D(100), "opening balance", "ops", NOW)
    first = loyal_sale(2, cid, line("BREAD", "10.00"), line("BALL", "5.10"), points="10",
                       gifts=[{"line": 1, "points": "64"}])
    second = loyal_sale(1, cid, line("BREAD", "10.00"), line("BALL", "5.10"), points="9",
                        gifts=[{"line": 1, "points": "64"}], store=OTHER)
    ingest(db, batch(first))
    ingest(db, batch(second, store=OTHER))
    yield {"customer": cid, "first": first["id"], "second": second["id"]}


def test_the_overspend_and_the_drift_over_rest(app: Flask, clean_pg_db: Database,
                                               overspent: dict[str, str]) -> None:
    client = authorize(app.test_client(), api_token(clean_pg_db, TECHNICIAN))
    response = client.get("/api/v1/loyalty/overspends")
    assert response.status_code == 200, response.get_json()
    [row] = response.get_json()
    assert (row["customer"], row["balance"], row["lowest"]) == (
        overspent["customer"], "-8.00", "-8.00")
    assert [(s["sale"], s["store"], s["points"], s["balance_after"], s["overspent"])
            for s in row["spends"]] == [
        (overspent["first"], STORE, "-64.00", "46.00", False),
        (overspent["second"], OTHER, "-64.00", "-8.00", True)]
    drift = client.get("/api/v1/loyalty/drift").get_json()
    assert [(d["sale"], d["store"], d["kind"], d["store_points"], d["central_points"],
             d["profile"], d["profile_version"]) for d in drift] == [
        (overspent["second"], OTHER, "difference", "9.00", "10.00", "BASE", 1)]
    assert client.get(f"/api/v1/loyalty/drift?store={STORE}").get_json() == []
    assert len(client.get(f"/api/v1/loyalty/drift?customer={overspent['customer']}")
               .get_json()) == 1
    # Bad filters are 4xx naming the field; nobody writes through these reports.
    for query, field in (("kind=other", "kind"), ("customer=nope", "customer")):
        bad = client.get(f"/api/v1/loyalty/drift?{query}")
        assert bad.status_code == 422 and field in str(bad.get_json()["errors"]), query
    assert client.post("/api/v1/loyalty/overspends", json={}).status_code == 405
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'tessera_points_drift_total{kind="difference"} 1' in metrics
    assert 'tessera_points_drift_total{kind="unrecorded"} 0' in metrics


def test_the_console_shows_drift_overspends_and_the_sales_points(
        app: Flask, clean_pg_db: Database, overspent: dict[str, str]) -> None:
    make_user(clean_pg_db, "mkt", MARKETING)
    console: FlaskClient = sign_in(app.test_client(), "mkt")
    page = console.get("/loyalty/overspends").get_data(as_text=True)
    assert overspent["customer"] in page and overspent["second"] in page
    assert '<tr class="overspent">' in page and "-8" in page
    page = console.get("/loyalty/drift?kind=difference").get_data(as_text=True)
    assert overspent["second"] in page and overspent["first"] not in page
    sale = console.get(f"/sales/{overspent['second']}").get_data(as_text=True)
    assert "Points drift" in sale and "central computed 10 points, the store 9" in sale
    assert "spend" in sale and "earn" in sale
    sale = console.get(f"/sales/{overspent['first']}").get_data(as_text=True)
    assert "No points drift." in sale
