"""The loyalty programme at central over REST, on PostgreSQL: profiles and their versions,
markup bands, levels and gifts, points values (seeds/002 worked example), shelf labels, the
loyalty stream, and bad input answered 4xx naming the field."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from central.app import create_app
from central.db import Database
from central.models import Change
from central.roles import CUSTOMER_SERVICE, MARKETING, PRICING
from tests.support import api_token, authorize

pytestmark = pytest.mark.integration

SEED = {"threshold": "1", "step": "1", "points_per_step": "1", "bonus_threshold": "25",
        "bonus_points": "5"}
THREE_BANDS = [{"ratio": "30", "up_to": "100"}, {"ratio": "35", "above": "100", "up_to": "200"},
               {"ratio": "40", "above": "200"}]


@pytest.fixture
def client_for(clean_pg_db: Database) -> Callable[..., FlaskClient]:
    app = create_app({"DATABASE": clean_pg_db, "TESTING": True})

    def make(*roles: str) -> FlaskClient:
        return authorize(app.test_client(), api_token(clean_pg_db, *roles))

    return make


@pytest.fixture
def marketing(client_for: Callable[..., FlaskClient]) -> FlaskClient:
    return client_for(MARKETING)


@pytest.fixture
def pricing(client_for: Callable[..., FlaskClient]) -> FlaskClient:
    return client_for(PRICING)


def product(client: FlaskClient, sku: str, cost: str, price: str, **extra: object) -> None:
    response = client.post("/api/v1/products/", json={
        "sku": sku, "name": sku.title(), "vat_rate": "22", "purchase_cost": cost,
        "sale_price": price, **extra})
    assert response.status_code == 201, response.get_json()


def profile(client: FlaskClient, code: str = "BASE", **extra: object) -> dict[str, object]:
    body = {"code": code, "description": "Standard", "default": True, "card_prefix": "29",
            "accrual": SEED, "redemption": {"bands": [{"ratio": "30"}]}, **extra}
    response = client.post("/api/v1/loyalty/profiles/", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def values(client: FlaskClient, *skus: str, code: str = "BASE") -> dict[str, str]:
    query = "&".join([f"profile={code}", *(f"sku={s}" for s in skus)])
    response = client.get(f"/api/v1/loyalty/points-values/?{query}")
    assert response.status_code == 200, response.get_json()
    return {v["sku"]: v["points"] for v in response.get_json()}


def changes(db: Database, entity: str) -> list[Change]:
    with db.sessions() as session:
        return list(session.scalars(select(Change).where(Change.stream == "loyalty",
                                                         Change.entity == entity)
                                    .order_by(Change.version)))


def test_the_seed_worked_example_through_the_points_values_endpoint(
        marketing: FlaskClient, pricing: FlaskClient) -> None:
    product(pricing, "BALL", "2.15", "5.10")
    product(pricing, "BOWL", "1.18", "2.80")
    seven = {"FEED": "4.38", "LEASH": "3.18", "LIVE": "2.06"}  # markups 60%, 120%, 240%
    for sku, cost in seven.items():
        product(pricing, sku, cost, "7.00")
    profile(marketing)
    got = values(marketing, "BALL", "BOWL", *seven)
    assert (got["BALL"], got["BOWL"]) == ("64.00", "35.00")
    assert Decimal(got["BALL"]) + Decimal(got["BOWL"]) == 99
    assert [got[s] for s in seven] == ["131.00", "95.00", "62.00"]
    response = marketing.put("/api/v1/loyalty/profiles/BASE/markup-bands",
                             json={"bands": THREE_BANDS})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["version"] == 2
    got = values(marketing, *seven)
    assert [got[s] for s in seven] == ["131.00", "111.00", "82.00"]


def test_points_values_follow_the_products_cost_discounts_and_fixed_value(
        marketing: FlaskClient, pricing: FlaskClient, clean_pg_db: Database) -> None:
    profile(marketing, redemption={"bands": [{"ratio": "30"}], "discount_levels": 2})
    product(pricing, "BALL", "2.15", "5.10")
    assert values(marketing, "BALL") == {"BALL": "64.00"}
    # Two successive supplier discounts, both counted: 2.15 x 0.9 x 0.95 x 30 = 55.15
    assert pricing.patch("/api/v1/products/BALL",
                         json={"purchase_discounts": ["10", "5", "3"]}).status_code == 200
    assert values(marketing, "BALL") == {"BALL": "55.00"}
    assert pricing.patch("/api/v1/products/BALL",
                         json={"purchase_cost": "3.00"}).status_code == 200
    assert values(marketing, "BALL") == {"BALL": "77.00"}  # 3 x .9 x .95 x 30 = 76.95
    assert pricing.patch("/api/v1/products/BALL", json={"fixed_points": "50"}).status_code \
        == 200
    assert values(marketing, "BALL") == {"BALL": "50.00"}
    assert pricing.patch("/api/v1/products/BALL",
                         json={"purchase_cost": "9.00"}).status_code == 200
    assert values(marketing, "BALL") == {"BALL": "50.00"}  # fixed: never recomputed
    sent = [json.loads(c.data)["points"] for c in changes(clean_pg_db, "points_value")]
    assert sent == ["64.00", "55.00", "77.00", "50.00"]  # unchanged values are not resent
    bad = pricing.patch("/api/v1/products/BALL", json={"purchase_discounts": ["1"] * 6})
    assert bad.status_code == 422 and "purchase_discounts" in json.dumps(bad.get_json())


def test_every_change_of_a_profile_is_a_new_version_on_the_loyalty_stream(
        marketing: FlaskClient, clean_pg_db: Database) -> None:
    created = profile(marketing, alternative_prefixes=["040"], ean_prefix="2955",
                      discount_percent="5")
    assert created["version"] == 1 and created["accrual"]["bonus_points"] == "5"
    patched = marketing.patch("/api/v1/loyalty/profiles/BASE",
                              json={"accrual": {**SEED, "exclude_offers": True}})
    assert patched.status_code == 200 and patched.get_json()["version"] == 2
    gold = profile(marketing, "GOLD", card_prefix="2901", description="Gold")
    assert gold["default"] is True
    base = marketing.get("/api/v1/loyalty/profiles/BASE").get_json()
    assert base["default"] is False and base["version"] == 3  # only one default
    sent = [(c.key, json.loads(c.data)["version"]) for c in changes(clean_pg_db,
                                                                     "loyalty_profile")]
    assert sent == [("BASE", 1), ("BASE", 2), ("GOLD", 1), ("BASE", 3)]


def test_levels_and_gifts(marketing: FlaskClient, pricing: FlaskClient,
                          clean_pg_db: Database) -> None:
    product(pricing, "BALL", "2.15", "5.10")
    assert marketing.put("/api/v1/loyalty/levels/L1", json={"points": "10"}).status_code == 200
    assert marketing.put("/api/v1/loyalty/levels/L2", json={"points": "20"}).status_code == 200
    gift = marketing.put("/api/v1/loyalty/gifts/BALL", json={"level": "L2"})
    assert gift.status_code == 200 and gift.get_json()["level_points"] == "20.00"
    assert [g["sku"] for g in marketing.get("/api/v1/loyalty/gifts/").get_json()] == ["BALL"]
    refused = marketing.delete("/api/v1/loyalty/levels/L2")
    assert refused.status_code == 409
    assert "gifts_on_level" in refused.get_json()["errors"]
    assert marketing.delete("/api/v1/loyalty/gifts/BALL").status_code == 204
    assert marketing.delete("/api/v1/loyalty/levels/L2").status_code == 204
    assert [c.op for c in changes(clean_pg_db, "loyalty_gift")] == ["upsert", "delete"]


def test_a_level_stays_while_a_customer_holds_points_at_the_first_level(
        marketing: FlaskClient, client_for: Callable[..., FlaskClient]) -> None:
    assert marketing.put("/api/v1/loyalty/levels/L1", json={"points": "10"}).status_code == 200
    customer = str(uuid.uuid4())
    service = client_for(CUSTOMER_SERVICE)
    assert service.post(f"/api/v1/customers/{customer}/points/adjustments",
                        json={"points": "12", "reason": "welcome"}).status_code == 201
    refused = marketing.delete("/api/v1/loyalty/levels/L1")
    assert refused.status_code == 409
    assert "balances_at_first_level" in refused.get_json()["errors"]


def test_shelf_labels_show_price_and_points_value(marketing: FlaskClient,
                                                  pricing: FlaskClient) -> None:
    product(pricing, "BALL", "2.15", "5.10")
    profile(marketing)
    response = marketing.get("/api/v1/loyalty/points-values/labels.pdf?profile=BASE&sku=BALL")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert b"EUR 5.10" in response.data and b"64 pt" in response.data
    unknown = marketing.get("/api/v1/loyalty/points-values/labels.pdf?profile=BASE&sku=NOPE")
    assert unknown.status_code == 422 and "sku" in unknown.get_json()["errors"]


@pytest.mark.parametrize(("path", "method", "body", "field"), [
    pytest.param("/api/v1/loyalty/gifts/BALL", "put", {"level": "NOPE"}, "level",
                 id="gift-for-a-level-that-does-not-exist"),
    pytest.param("/api/v1/loyalty/profiles/BASE/markup-bands", "put",
                 {"bands": [{"ratio": "-30"}]}, "redemption.bands[0].ratio",
                 id="negative-ratio"),
    pytest.param("/api/v1/loyalty/profiles/BASE/markup-bands", "put",
                 {"bands": [{"ratio": "30", "up_to": "150"},
                            {"ratio": "35", "above": "100"}]}, "redemption.bands[1]",
                 id="overlapping-bands"),
    pytest.param("/api/v1/loyalty/profiles/BASE", "patch",
                 {"accrual": {"threshold": "-1"}}, "accrual.threshold",
                 id="negative-threshold"),
    pytest.param("/api/v1/loyalty/profiles/BASE", "patch",
                 {"accrual": {"bonus_points": "5"}}, "accrual.bonus_threshold",
                 id="bonus-without-threshold"),
    pytest.param("/api/v1/loyalty/profiles/BASE", "patch",
                 {"redemption": {"release": "discount"}}, "redemption.discounts",
                 id="discount-release-without-discounts"),
    pytest.param("/api/v1/loyalty/profiles/BASE", "patch", {"card_prefix": "29a"},
                 "card_prefix", id="prefix-not-digits"),
    pytest.param("/api/v1/loyalty/levels/L9", "put", {"points": "-5"}, "points",
                 id="negative-level"),
    pytest.param("/api/v1/loyalty/profiles/BASE", "patch",
                 {"redemption": {"bands": [{"ratio": "-0.5"}]}}, "redemption.bands[0].ratio",
                 id="negative-ratio-in-a-profile"),
    pytest.param("/api/v1/loyalty/profiles/", "post",
                 {"code": "OTHER", "description": "Other", "card_prefix": "31",
                  "redemption": {"bands": [{"ratio": "30", "up_to": "150"},
                                           {"ratio": "35", "above": "100"}]}},
                 "redemption.bands[1]", id="overlapping-bands-in-a-new-profile"),
    pytest.param("/api/v1/loyalty/gifts/BALL", "put", {"level": "NOPE", "points": "-5"},
                 "points", id="gift-with-negative-points"),
])
def test_bad_input_is_a_4xx_naming_the_field(marketing: FlaskClient, pricing: FlaskClient,
                                             path: str, method: str, body: dict[str, object],
                                             field: str) -> None:
    product(pricing, "BALL", "2.15", "5.10")
    profile(marketing)
    before = marketing.get("/api/v1/loyalty/profiles/BASE").get_json()
    response = getattr(marketing, method)(path, json=body)
    assert 400 <= response.status_code < 500, response.get_json()
    assert field in response.get_json()["errors"], response.get_json()
    assert marketing.get("/api/v1/loyalty/profiles/BASE").get_json() == before


def test_an_adjustment_without_a_reason_is_refused_naming_it(
        client_for: Callable[..., FlaskClient]) -> None:
    service = client_for(CUSTOMER_SERVICE)
    customer = str(uuid.uuid4())
    response = service.post(f"/api/v1/customers/{customer}/points/adjustments",
                            json={"points": "5", "reason": "  "})
    assert response.status_code == 422 and "reason" in response.get_json()["errors"]
    missing = service.post(f"/api/v1/customers/{customer}/points/adjustments",
                           json={"points": "5"})
    assert missing.status_code == 422 and "reason" in json.dumps(missing.get_json())
    assert service.get(f"/api/v1/customers/{customer}/points").get_json()["entries"] == []
    for points in ("0", "abc", "1e9"):
        refused = service.post(f"/api/v1/customers/{customer}/points/adjustments",
                               json={"points": points, "reason": "goodwill"})
        assert 400 <= refused.status_code < 500 and "points" in refused.get_json()["errors"], \
            (points, refused.get_json())
    bad_id = service.get("/api/v1/customers/not-a-uuid/points")
    assert bad_id.status_code == 404 and "customer" in bad_id.get_json()["errors"]


def test_only_customer_service_adjusts_points_and_the_ledger_shows_who(
        client_for: Callable[..., FlaskClient]) -> None:
    customer = str(uuid.uuid4())
    body = {"points": "-3", "reason": "goodwill correction"}
    assert client_for(MARKETING).post(f"/api/v1/customers/{customer}/points/adjustments",
                                      json=body).status_code == 403
    service = client_for(CUSTOMER_SERVICE)
    made = service.post(f"/api/v1/customers/{customer}/points/adjustments", json=body)
    assert made.status_code == 201, made.get_json()
    ledger = client_for(MARKETING).get(f"/api/v1/customers/{customer}/points").get_json()
    assert ledger["balance"] == "-3.00"
    [entry] = ledger["entries"]
    assert entry["kind"] == "adjustment" and entry["reason"] == "goodwill correction"
    assert entry["author"]
