"""The loyalty pages of the console on PostgreSQL, through Flask's client: profiles with
their accrual options and markup bands, levels and gifts, a customer's ledger with a manual
adjustment; the forms refuse what the REST API refuses, with the same field names."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient

from central.db import Database
from central.roles import CUSTOMER_SERVICE, MARKETING
from central.services import catalog, points_ledger
from tests.integration.test_console import app_config, clock, csrf, make_user, sign_in

__all__ = ["app_config", "clock"]  # the console's settings for the shared app fixture

pytestmark = pytest.mark.integration


@pytest.fixture
def marketing(app: Flask, clean_pg_db: Database) -> FlaskClient:
    make_user(clean_pg_db, "mkt", MARKETING)
    return sign_in(app.test_client(), "mkt")


def post(client: FlaskClient, path: str, data: dict[str, str]) -> tuple[int, str]:
    # The CSRF token is the session's: any page with a form has it.
    response = client.post(path, data={**data, "csrf_token": csrf(client, "/loyalty/profiles")})
    return response.status_code, response.get_data(as_text=True)


def test_a_profile_its_accrual_options_and_markup_bands(marketing: FlaskClient,
                                                        clean_pg_db: Database) -> None:
    with clean_pg_db.transaction() as session:
        catalog.create_product(session, {"sku": "LEASH", "name": "Leash", "vat_rate": Decimal(
            "22"), "sale_price": Decimal("7.00"), "purchase_cost": Decimal("3.18")})
    status, _ = post(marketing, "/loyalty/profiles",
                     {"code": "BASE", "description": "Standard", "card_prefix": "29",
                      "default": "on"})
    assert status == 303
    form = {"description": "Standard", "card_prefix": "29", "alternative_prefixes": "040 699",
            "ean_prefix": "2955", "discount_percent": "5", "default": "on",
            "accrual.threshold": "1", "accrual.step": "1", "accrual.points_per_step": "1",
            "accrual.bonus_threshold": "25", "accrual.bonus_points": "5",
            "accrual.voucher_multiplier": "4", "accrual.whole_points_only": "on",
            "accrual.exclude_offers": "on", "band0.ratio": "30", "band0.up_to": "100",
            "band1.above": "100", "band1.up_to": "200", "band1.ratio": "35",
            "band2.above": "200", "band2.ratio": "40", "redemption.discount_levels": "0",
            "redemption.release": "standard"}
    status, _ = post(marketing, "/loyalty/profiles/BASE", form)
    assert status == 303
    page = marketing.get("/loyalty/profiles/BASE").get_data(as_text=True)
    assert "version</small>" not in page and re.search(r"version\s*2", page)
    assert 'name="accrual.bonus_threshold" value="25"' in page
    assert 'name="band1.ratio" value="35"' in page
    assert 'name="accrual.exclude_offers" checked' in page
    # Overlapping bands: refused, the field named, nothing changed.
    status, page = post(marketing, "/loyalty/profiles/BASE",
                        {**form, "band1.above": "90"})
    assert status == 422 and "redemption.bands[1]" in page
    status, page = post(marketing, "/loyalty/profiles/BASE",
                        {**form, "band0.ratio": "-30"})
    assert status == 422 and "redemption.bands[0].ratio" in page
    assert re.search(r"version\s*2", marketing.get("/loyalty/profiles/BASE")
                     .get_data(as_text=True))


def test_levels_and_gifts(marketing: FlaskClient, clean_pg_db: Database) -> None:
    with clean_pg_db.transaction() as session:
        catalog.create_product(session, {"sku": "BALL", "name": "Ball", "vat_rate": Decimal(
            "22"), "sale_price": Decimal("5.10")})
    assert post(marketing, "/loyalty/levels", {"code": "L1", "points": "10",
                                                "name": "First"})[0] == 303
    status, page = post(marketing, "/loyalty/gifts", {"sku": "BALL", "level": "L9"})
    assert status == 422 and "level" in page and "no level" in page
    assert post(marketing, "/loyalty/gifts", {"sku": "BALL", "level": "L1"})[0] == 303
    page = marketing.get("/loyalty/levels").get_data(as_text=True)
    assert "BALL" in page and "First" in page
    status, page = post(marketing, "/loyalty/levels/L1/delete", {})
    assert status == 409 and "gifts_on_level" in page


def test_a_customers_ledger_and_a_manual_adjustment(app: Flask,
                                                    clean_pg_db: Database) -> None:
    customer = str(uuid.uuid4())
    make_user(clean_pg_db, "desk", CUSTOMER_SERVICE)
    desk = sign_in(app.test_client(), "desk")
    path = f"/customers/{customer}/points"
    status, page = post(desk, path, {"points": "10", "reason": ""})
    assert status == 422 and "reason" in page
    assert post(desk, path, {"points": "10", "reason": "lost receipt"})[0] == 303
    page = desk.get(path).get_data(as_text=True)
    assert "lost receipt" in page and "desk" in page
    with clean_pg_db.sessions() as session:
        assert points_ledger.balance(session, customer) == 10
    make_user(clean_pg_db, "mkt2", MARKETING)
    other = sign_in(app.test_client(), "mkt2")
    assert other.get(path).status_code == 200  # everyone reads
    assert post(other, path, {"points": "5", "reason": "x"})[0] == 403
