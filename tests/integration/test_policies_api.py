"""Discount policies, partner programmes and VIP cards through the REST API (C3-C6).

On the real PostgreSQL (tables emptied per test), with one smoke run on SQLite. Each write
must add exactly one change to the right stream, in the wire form the stores read.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from central.app import create_app
from central.db import Database
from central.models import Change, PartnerCard, Policy
from central.services import policies as policy_service
from rules.policies import (
    CardDiscount,
    Exclusion,
    Period,
    Policies,
    Promotion,
    SalesRule,
    Target,
    applies_to_store,
    card_in_range,
    policies_from_wire,
    policy_from_wire,
)
from rules.pricing import BasketLine, Product, price_basket
from tests.support import api_token, authorize

pytestmark = pytest.mark.integration

API = "/api/v1"
KIOSKS = [f"kiosk-{n}" for n in range(1, 6)]
START = "2026-12-01T00:00:00+00:00"
END = "2027-01-01T00:00:00+00:00"
FUTURE = "2099-01-01T00:00:00+00:00"


# -- fixtures and helpers ---------------------------------------------------------------------

@pytest.fixture
def db(clean_pg_db: Database) -> Database:
    """The session's PostgreSQL with every table but ``meta`` truncated."""
    return clean_pg_db


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def field_errors(body: dict[str, Any]) -> dict[str, Any]:
    """Field messages of an error answer (schema errors come under "json")."""
    errors: dict[str, Any] = body.get("errors") or {}
    return dict(errors.get("json", errors))


def assert_error(response: Any, status: int, field: str | None = None,
                 says: str = "") -> dict[str, Any]:
    body: dict[str, Any] = response.get_json()
    assert response.status_code == status, body
    assert response.content_type == "application/json"
    assert body["code"] == status and body["status"] and body["message"]
    if field is not None:
        errors = field_errors(body)
        assert field in errors, body
        assert says.lower() in json.dumps(errors[field]).lower(), body
    return body


def last_change_id(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.max(Change.id))) or 0)


def changes_since(db: Database, after: int) -> list[Change]:
    with db.sessions() as session:
        return list(session.scalars(select(Change).where(Change.id > after)
                                    .order_by(Change.id)))


def count_changes(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Change)) or 0)


def one_change(db: Database, write: Callable[[], Any], status: int = 200,
               ) -> tuple[Any, Change, dict[str, Any]]:
    """Run one API write; it must add exactly one change. Returns body, change, its data."""
    before = last_change_id(db)
    body = ok(write(), status)
    new = changes_since(db, before)
    assert len(new) == 1, [(c.stream, c.entity, c.key) for c in new]
    assert new[0].data is not None
    return body, new[0], json.loads(new[0].data)


def no_change(db: Database, write: Callable[[], Any]) -> Any:
    before = count_changes(db)
    response = write()
    assert count_changes(db) == before
    return response


def wire_of(body: dict[str, Any]) -> dict[str, Any]:
    """An API answer without what is not on the wire."""
    return {k: v for k, v in body.items() if k not in ("updated_at", "notify")}


@pytest.fixture
def world(client: FlaskClient) -> FlaskClient:
    """The seeds/004 chain: five kiosks and a market, a depot, a group, a small catalogue."""
    ok(client.post(f"{API}/store-groups/", json={"code": "north", "name": "North"}), 201)
    for code in KIOSKS:
        ok(client.post(f"{API}/stores/", json={"code": code, "name": code,
                                               "group": "north" if code < "kiosk-3" else None}),
           201)
    for code in ("market", "depot"):
        ok(client.post(f"{API}/stores/", json={"code": code, "name": code}), 201)
    for code, parent in (("tobacco", None), ("cigarettes", "tobacco"), ("food", None)):
        ok(client.post(f"{API}/categories/", json={"code": code, "name": code,
                                                   "parent": parent}), 201)
    ok(client.post(f"{API}/brands/", json={"code": "acme", "name": "Acme"}), 201)
    ok(client.post(f"{API}/families/", json={"code": "bakery", "name": "Bakery"}), 201)
    for sku, category, price in (("BREAD", "food", "2.00"), ("CIG", "cigarettes", "20.00")):
        ok(client.post(f"{API}/products/", json={
            "sku": sku, "name": sku.title(), "category": category, "brand": "acme",
            "family": "bakery" if sku == "BREAD" else None, "vat_rate": "9",
            "sale_price": price}), 201)
    return client


def rule(**overrides: Any) -> dict[str, Any]:
    body = {"code": "SALES30", "name": "Winter sales", "percent": "30",
            "period": {"start": START, "end": END}}
    return {**body, **overrides}


def quantity(**overrides: Any) -> dict[str, Any]:
    body = {"code": "3X2", "name": "3 for 2 on food", "promotion": "quantity", "buy": 2,
            "get": 1, "percent": "100", "target": {"kind": "category", "codes": ["food"]}}
    return {**body, **overrides}


def fixed(**overrides: Any) -> dict[str, Any]:
    body = {"code": "BREAD199", "name": "Bread at 1.99", "promotion": "fixed_price",
            "price": "1.99", "target": {"kind": "product", "codes": ["BREAD"]}}
    return {**body, **overrides}


def exclusion(**overrides: Any) -> dict[str, Any]:
    body = {"code": "NO-TOBACCO", "name": "No discount on tobacco",
            "target": {"kind": "category", "codes": ["tobacco"]}}
    return {**body, **overrides}


def programme(**overrides: Any) -> dict[str, Any]:
    body = {"code": "ABCDEF", "name": "ABCDEF union card", "percent": "5",
            "stores": [*KIOSKS, "market"]}
    return {**body, **overrides}


def vip(**overrides: Any) -> dict[str, Any]:
    body = {"code": "#VIP#ANA1", "customer": "Ana Pop", "percent": "15",
            "valid_until": FUTURE, "notify": "manager@example.com"}
    return {**body, **overrides}


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# -- sales rules, promotions, exclusions: happy paths -----------------------------------------

def test_a_sales_rule_reaches_every_store_as_its_wire_form(world: FlaskClient,
                                                           db: Database) -> None:
    body, change, data = one_change(db, lambda: world.post(f"{API}/discount-rules/",
                                                           json=rule()), 201)
    assert (change.stream, change.version, change.entity, change.key, change.op) == (
        "policies", 1, "policy", "SALES30", "upsert")
    assert data == wire_of(body)
    assert data == {"code": "SALES30", "kind": "sales_rule", "name": "Winter sales",
                    "version": 1, "active": True, "stores": [], "groups": [],
                    "period": {"start": START, "end": END},
                    "target": {"kind": "all", "codes": []}, "percent": "30.00"}
    assert policy_from_wire(data) == SalesRule("SALES30", 1, Decimal("30.00"), Target(),
                                               Period(utc(START), utc(END)))
    with db.sessions() as session:
        stored = session.scalar(select(Policy).where(Policy.code == "SALES30"))
        assert stored is not None and json.loads(stored.definition) == data


def test_promotions_load_as_the_engine_objects(world: FlaskClient, db: Database) -> None:
    _, change, data = one_change(db, lambda: world.post(f"{API}/promotions/", json=quantity()),
                                 201)
    assert (change.stream, change.entity, change.key) == ("policies", "policy", "3X2")
    assert policy_from_wire(data) == Promotion(
        "3X2", 1, "quantity", Target("category", frozenset({"food"})), Period(),
        buy=2, get=1, percent=Decimal("100"))

    half = quantity(code="HALF2", name="Second at half price", buy=1, get=1, percent="50",
                    target={"kind": "brand", "codes": ["acme"]})
    _, _, data = one_change(db, lambda: world.post(f"{API}/promotions/", json=half), 201)
    assert policy_from_wire(data) == Promotion(
        "HALF2", 1, "quantity", Target("brand", frozenset({"acme"})), Period(),
        buy=1, get=1, percent=Decimal("50"))

    body, change, data = one_change(db, lambda: world.post(f"{API}/promotions/", json=fixed(
        period={"start": START, "end": END})), 201)
    assert change.version == 3 and "buy" not in data and body["price"] == "1.99"
    assert policy_from_wire(data) == Promotion(
        "BREAD199", 1, "fixed_price", Target("product", frozenset({"BREAD"})),
        Period(utc(START), utc(END)), price=Decimal("1.99"))


def test_an_exclusion_loads_and_targets_families_too(world: FlaskClient,
                                                     db: Database) -> None:
    _, change, data = one_change(db, lambda: world.post(f"{API}/exclusions/",
                                                        json=exclusion()), 201)
    assert (change.entity, change.key) == ("policy", "NO-TOBACCO")
    assert policy_from_wire(data) == Exclusion(
        "NO-TOBACCO", 1, Target("category", frozenset({"tobacco"})), Period())
    _, _, data = one_change(db, lambda: world.post(f"{API}/exclusions/", json=exclusion(
        code="NO-BAKERY", target={"kind": "family", "codes": ["bakery"]})), 201)
    assert policy_from_wire(data).target == Target("family", frozenset({"bakery"}))


def test_an_edit_bumps_the_version_and_sends_the_whole_policy_again(
        world: FlaskClient, db: Database) -> None:
    ok(world.post(f"{API}/discount-rules/", json=rule()), 201)
    body, change, data = one_change(db, lambda: world.patch(
        f"{API}/discount-rules/SALES30", json={"percent": "40", "period": {"end": FUTURE}}))
    assert body["version"] == 2 and change.version == 2 and change.key == "SALES30"
    # the period is merged: only its end moved
    assert data["period"] == {"start": START, "end": FUTURE}
    assert data["percent"] == "40.00" and data["name"] == "Winter sales"
    assert policy_from_wire(data).version == 2

    # switching a promotion's type drops the old type's fields
    ok(world.post(f"{API}/promotions/", json=quantity()), 201)
    _, _, data = one_change(db, lambda: world.patch(
        f"{API}/promotions/3X2", json={"promotion": "fixed_price", "price": "0.99"}))
    assert {"buy", "get", "percent"}.isdisjoint(data) and data["price"] == "0.99"
    assert policy_from_wire(data) == Promotion(
        "3X2", 2, "fixed_price", Target("category", frozenset({"food"})), Period(),
        price=Decimal("0.99"))


def test_delete_deactivates_once_and_stores_drop_the_policy(world: FlaskClient,
                                                            db: Database) -> None:
    ok(world.post(f"{API}/exclusions/", json=exclusion()), 201)
    body, change, data = one_change(db, lambda: world.delete(f"{API}/exclusions/NO-TOBACCO"))
    assert body["active"] is False and body["version"] == 2 == data["version"]
    assert (change.op, data["active"]) == ("upsert", False)
    assert policies_from_wire([data], "kiosk-1", "north") == Policies()
    # deleting again changes nothing and sends nothing
    again = no_change(db, lambda: world.delete(f"{API}/exclusions/NO-TOBACCO"))
    assert ok(again)["version"] == 2
    # and it can be switched on again
    _, _, data = one_change(db, lambda: world.patch(f"{API}/exclusions/NO-TOBACCO",
                                                    json={"active": True}))
    assert data["active"] is True and data["version"] == 3


def test_reading_and_listing_by_kind_state_and_store(world: FlaskClient) -> None:
    ok(world.post(f"{API}/discount-rules/", json=rule()), 201)
    ok(world.post(f"{API}/discount-rules/", json=rule(code="K1", stores=["kiosk-1"])), 201)
    ok(world.post(f"{API}/discount-rules/", json=rule(code="NORTH", groups=["north"])), 201)
    ok(world.post(f"{API}/discount-rules/", json=rule(code="OLD")), 201)
    ok(world.delete(f"{API}/discount-rules/OLD"))
    ok(world.post(f"{API}/promotions/", json=quantity()), 201)

    def codes(url: str) -> list[str]:
        return [p["code"] for p in ok(world.get(url))]

    assert codes(f"{API}/discount-rules/") == ["K1", "NORTH", "OLD", "SALES30"]
    assert codes(f"{API}/discount-rules/?active=true") == ["K1", "NORTH", "SALES30"]
    assert codes(f"{API}/discount-rules/?active=false") == ["OLD"]
    assert codes(f"{API}/discount-rules/?store=kiosk-1&active=true") == [
        "K1", "NORTH", "SALES30"]
    assert codes(f"{API}/discount-rules/?store=kiosk-2&active=true") == ["NORTH", "SALES30"]
    assert codes(f"{API}/discount-rules/?store=market&active=true") == ["SALES30"]
    assert codes(f"{API}/promotions/") == ["3X2"]
    page = world.get(f"{API}/discount-rules/?page=2&page_size=3")
    assert [p["code"] for p in ok(page)] == ["SALES30"]
    assert json.loads(page.headers["X-Pagination"])["total"] == 4

    assert ok(world.get(f"{API}/discount-rules/K1"))["stores"] == ["kiosk-1"]
    assert_error(world.get(f"{API}/promotions/K1"), 404)  # a sales rule, not a promotion
    assert_error(world.get(f"{API}/exclusions/NOPE"), 404)
    assert_error(world.get(f"{API}/discount-rules/?store=nowhere"), 404)


def test_concurrent_edits_each_get_their_own_version(world: FlaskClient,
                                                     db: Database) -> None:
    ok(world.post(f"{API}/discount-rules/", json=rule()), 201)
    barrier = threading.Barrier(6)
    failures: list[BaseException] = []

    def edit(percent: int) -> None:
        try:
            barrier.wait(10)
            with db.transaction() as session:
                policy_service.update(session, "SALES30", {"percent": str(percent)})
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=edit, args=(10 + n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    with db.sessions() as session:
        sent = [json.loads(c.data or "") for c in session.scalars(
            select(Change).where(Change.stream == "policies").order_by(Change.version))]
    assert [d["version"] for d in sent] == [1, 2, 3, 4, 5, 6, 7]
    assert ok(world.get(f"{API}/discount-rules/SALES30"))["percent"] == sent[-1]["percent"]


# -- policy validation ------------------------------------------------------------------------

BAD_POLICIES = [
    pytest.param("discount-rules", rule(period={"start": END, "end": START}), "period",
                 "must come after the start", id="period-end-before-start"),
    pytest.param("discount-rules", rule(period={"start": START, "end": START}), "period",
                 "must come after the start", id="period-end-equals-start"),
    pytest.param("discount-rules", rule(period={"start": "2026-12-01T00:00:00"}), "period",
                 "", id="period-without-offset"),
    pytest.param("discount-rules", rule(percent="150"), "percent", "", id="rate-over-100"),
    pytest.param("discount-rules", rule(percent="0"), "percent", "0% rule",
                 id="sales-rule-at-0"),
    pytest.param("discount-rules", rule(percent="-5"), "percent", "", id="negative-rate"),
    pytest.param("discount-rules", rule(percent="12.345"), "percent", "decimals",
                 id="rate-with-3-decimals"),
    pytest.param("discount-rules", {"code": "R", "name": "no rate"}, "percent", "",
                 id="sales-rule-without-rate"),
    pytest.param("discount-rules", rule(price="1.00"), "price", "", id="price-on-a-rule"),
    pytest.param("promotions", quantity(percent="0"), "percent", "more than 0",
                 id="quantity-at-0"),
    pytest.param("promotions", quantity(percent="101"), "percent", "", id="quantity-over-100"),
    pytest.param("promotions", quantity(buy=0), "buy", "sales rule", id="nothing-to-buy"),
    pytest.param("promotions", quantity(get=0), "get", "at least 1", id="nothing-to-get"),
    pytest.param("promotions", quantity(buy=None), "buy", "", id="buy-null"),
    pytest.param("promotions", {**quantity(), "get": "1"}, "get", "", id="get-as-text"),
    pytest.param("promotions", quantity(price="1.00"), "price", "not used",
                 id="price-on-a-quantity-promotion"),
    pytest.param("promotions", fixed(price="-1.00"), "price", "", id="negative-fixed-price"),
    pytest.param("promotions", fixed(price="1.999"), "price", "decimals",
                 id="fixed-price-3-decimals"),
    pytest.param("promotions", {k: v for k, v in fixed().items() if k != "price"}, "price",
                 "required", id="fixed-price-missing"),
    pytest.param("promotions", fixed(buy=2), "buy", "not used", id="buy-on-a-fixed-price"),
    pytest.param("promotions", quantity(promotion="bogo"), "promotion", "",
                 id="unknown-promotion-type"),
    pytest.param("discount-rules", rule(target={"kind": "colour", "codes": ["red"]}),
                 "target", "", id="unknown-target-kind"),
    pytest.param("discount-rules", rule(target={"kind": "all", "codes": ["food"]}),
                 "target", "takes no codes", id="all-with-codes"),
    pytest.param("discount-rules", rule(target={"kind": "brand", "codes": []}),
                 "target", "at least one brand", id="brand-without-codes"),
    pytest.param("discount-rules", rule(target={"kind": "category", "codes": ["food", "toys"]}),
                 "target", "no category 'toys'", id="unknown-category"),
    pytest.param("discount-rules", rule(target={"kind": "brand", "codes": ["zeta"]}),
                 "target", "no brand 'zeta'", id="unknown-brand"),
    pytest.param("promotions", quantity(target={"kind": "family", "codes": ["shoes"]}),
                 "target", "no family 'shoes'", id="unknown-family"),
    pytest.param("promotions", fixed(target={"kind": "product", "codes": ["SKU-404"]}),
                 "target", "no product 'SKU-404'", id="unknown-product"),
    pytest.param("discount-rules", rule(stores=["kiosk-1", "kiosk-9"]), "stores",
                 "no store 'kiosk-9'", id="unknown-store"),
    pytest.param("exclusions", exclusion(groups=["south"]), "groups",
                 "no store group 'south'", id="unknown-group"),
    pytest.param("exclusions", exclusion(target={"kind": "all"}), "target",
                 "forbid every discount", id="exclusion-of-everything"),
    pytest.param("exclusions", {"code": "X", "name": "no target"}, "target", "",
                 id="exclusion-without-target"),
    pytest.param("discount-rules", rule(code="bad code!"), "code", "", id="bad-code"),
    pytest.param("discount-rules", rule(name=""), "name", "", id="empty-name"),
]


@pytest.mark.parametrize(("endpoint", "body", "field", "says"), BAD_POLICIES)
def test_contradictory_policies_are_refused_and_send_nothing(
        world: FlaskClient, db: Database, endpoint: str, body: dict[str, Any], field: str,
        says: str) -> None:
    response = no_change(db, lambda: world.post(f"{API}/{endpoint}/", json=body))
    assert_error(response, 422, field, says)
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Policy)) == 0


def test_one_answer_names_every_problem(world: FlaskClient) -> None:
    body = quantity(buy=0, percent="0", period={"start": END, "end": START},
                    target={"kind": "category", "codes": ["toys"]}, stores=["nowhere"])
    errors = field_errors(assert_error(world.post(f"{API}/promotions/", json=body), 422))
    assert {"buy", "percent", "period", "target", "stores"} <= set(errors)


def test_policy_codes_are_unique_across_kinds(world: FlaskClient, db: Database) -> None:
    ok(world.post(f"{API}/discount-rules/", json=rule(code="SUMMER")), 201)
    for endpoint, body in (("discount-rules", rule(code="SUMMER")),
                           ("promotions", quantity(code="SUMMER")),
                           ("exclusions", exclusion(code="SUMMER"))):
        response = no_change(db, lambda e=endpoint, b=body: world.post(f"{API}/{e}/", json=b))
        assert_error(response, 409, "code", "already used")


def test_an_edit_is_checked_as_a_whole(world: FlaskClient, db: Database) -> None:
    ok(world.post(f"{API}/discount-rules/", json=rule()), 201)
    ok(world.post(f"{API}/promotions/", json=fixed()), 201)
    for url, changes, field in (
            ("discount-rules/SALES30", {"period": {"end": START}}, "period"),
            ("discount-rules/SALES30", {"percent": "0"}, "percent"),
            ("discount-rules/SALES30", {"price": "2.00"}, "price"),
            ("discount-rules/SALES30", {"target": {"kind": "product", "codes": ["NOPE"]}},
             "target"),
            ("discount-rules/SALES30", {"stores": ["nowhere"]}, "stores"),
            ("promotions/BREAD199", {"promotion": "quantity", "buy": 2}, "get"),
            ("promotions/BREAD199", {"price": "-0.01"}, "price")):
        response = no_change(db, lambda u=url, c=changes: world.patch(f"{API}/{u}", json=c))
        assert_error(response, 422, field)
    assert_error(world.patch(f"{API}/discount-rules/SALES30", json={}), 422)
    assert_error(world.patch(f"{API}/discount-rules/NOPE", json={"percent": "5"}), 404)
    assert_error(world.patch(f"{API}/exclusions/SALES30", json={"name": "x"}), 404)
    assert ok(world.get(f"{API}/discount-rules/SALES30"))["version"] == 1


# -- partner programmes -----------------------------------------------------------------------

def test_a_partner_programme_reaches_every_store(world: FlaskClient, db: Database) -> None:
    body, change, data = one_change(db, lambda: world.post(
        f"{API}/partner-programmes/", json=programme(valid_from=START, valid_until=FUTURE)),
        201)
    assert (change.stream, change.version, change.entity, change.key, change.op) == (
        "partners", 1, "partner_programme", "ABCDEF", "upsert")
    assert data == body == {"code": "ABCDEF", "name": "ABCDEF union card", "percent": "5.00",
                            "version": 1, "active": True, "stores": sorted([*KIOSKS, "market"]),
                            "groups": [], "valid_from": START, "valid_until": FUTURE}

    body, change, data = one_change(db, lambda: world.patch(
        f"{API}/partner-programmes/ABCDEF", json={"percent": "7.5", "groups": ["north"]}))
    assert (change.version, data["version"], data["percent"], data["groups"]) == (
        2, 2, "7.50", ["north"])
    _, _, data = one_change(db, lambda: world.delete(f"{API}/partner-programmes/ABCDEF"))
    assert (data["active"], data["version"]) == (False, 3)
    no_change(db, lambda: world.delete(f"{API}/partner-programmes/ABCDEF"))

    ok(world.post(f"{API}/partner-programmes/", json=programme(code="OTHER", stores=[])), 201)
    listed = ok(world.get(f"{API}/partner-programmes/?store=depot"))
    assert [p["code"] for p in listed] == ["OTHER"]  # no stores listed: every store
    assert [p["code"] for p in ok(world.get(f"{API}/partner-programmes/?active=false"))] == [
        "ABCDEF"]
    assert_error(world.get(f"{API}/partner-programmes/NOPE"), 404)


@pytest.mark.parametrize(("changes", "field", "says"), [
    pytest.param({"percent": "0"}, "percent", "0% programme", id="rate-0"),
    pytest.param({"percent": "100.01"}, "percent", "", id="rate-over-100"),
    pytest.param({"stores": ["kiosk-1", "kiosk-7"]}, "stores", "kiosk-7", id="unknown-store"),
    pytest.param({"groups": ["south"]}, "groups", "south", id="unknown-group"),
    pytest.param({"valid_from": END, "valid_until": START}, "valid_until", "after",
                 id="until-before-from"),
    pytest.param({"valid_from": START, "valid_until": START}, "valid_until", "after",
                 id="until-equals-from"),
    pytest.param({"name": ""}, "name", "", id="no-name"),
])
def test_bad_programmes_are_refused(world: FlaskClient, db: Database, changes: dict[str, Any],
                                    field: str, says: str) -> None:
    response = no_change(db, lambda: world.post(f"{API}/partner-programmes/",
                                                json=programme(**changes)))
    assert_error(response, 422, field, says)
    ok(world.post(f"{API}/partner-programmes/", json=programme()), 201)
    response = no_change(db, lambda: world.patch(f"{API}/partner-programmes/ABCDEF",
                                                 json=changes))
    assert_error(response, 422, field, says)


def test_programme_codes_are_unique(world: FlaskClient, db: Database) -> None:
    ok(world.post(f"{API}/partner-programmes/", json=programme()), 201)
    response = no_change(db, lambda: world.post(f"{API}/partner-programmes/",
                                                json=programme(name="again")))
    assert_error(response, 409, "code")


# -- partner cards ----------------------------------------------------------------------------

@pytest.fixture
def union(world: FlaskClient) -> FlaskClient:
    ok(world.post(f"{API}/partner-programmes/", json=programme()), 201)
    return world


def test_each_new_card_or_range_is_one_change_and_duplicates_are_skipped(
        union: FlaskClient, db: Database) -> None:
    before = last_change_id(db)
    report = ok(union.post(f"{API}/partner-programmes/ABCDEF/cards", json={"cards": [
        {"number": "AB12CD34", "holder": "Ion Pop"},
        {"first": "4000100", "last": "4000199"},
        {"number": "AB12CD34"},  # twice in the same request
    ]}))
    assert (report["added"], report["skipped"], report["rejected"]) == (2, 1, [])
    assert report["duplicates"] == [{"line": 3, "reason": "AB12CD34 is already in the "
                                                          "programme"}]
    new = changes_since(db, before)
    assert [(c.stream, c.entity, c.key, c.op) for c in new] == [
        ("partners", "partner_card", "ABCDEF|AB12CD34|AB12CD34", "upsert"),
        ("partners", "partner_card", "ABCDEF|4000100|4000199", "upsert")]
    assert [json.loads(c.data or "") for c in new] == [
        {"programme": "ABCDEF", "first": "AB12CD34", "last": "AB12CD34", "holder": "Ion Pop",
         "active": True},
        {"programme": "ABCDEF", "first": "4000100", "last": "4000199", "holder": None,
         "active": True}]

    # already there, or inside a range of the programme: skipped, nothing sent
    report = no_change(db, lambda: union.post(f"{API}/partner-programmes/ABCDEF/cards", json={
        "cards": [{"number": "4000150"}, {"first": "4000100", "last": "4000199"},
                  {"first": "4000120", "last": "4000130"}]}))
    assert ok(report)["added"] == 0 and ok(report)["skipped"] == 3
    # a number of the same digits but another length is not in the range
    _, change, _ = one_change(db, lambda: union.post(
        f"{API}/partner-programmes/ABCDEF/cards", json={"cards": [{"number": "40001500"}]}))
    assert change.key == "ABCDEF|40001500|40001500"


@pytest.mark.parametrize(("card", "says"), [
    pytest.param({"number": "123"}, "4 to 32", id="too-short"),
    pytest.param({"number": "1" * 33}, "4 to 32", id="too-long"),
    pytest.param({"number": "1234-56"}, "letters or digits", id="symbols"),
    pytest.param({"first": "A1000", "last": "A1999"}, "digits", id="range-of-letters"),
    pytest.param({"first": "1000", "last": "19999"}, "same length", id="range-lengths"),
    pytest.param({"first": "2000", "last": "1999"}, "comes after", id="range-backwards"),
    pytest.param({"first": "1000"}, "first and last", id="range-without-last"),
    pytest.param({"number": "1000", "first": "1000", "last": "1999"}, "not both",
                 id="number-and-range"),
    pytest.param({"holder": "nobody"}, "give a number", id="no-number"),
])
def test_a_bad_card_adds_none_of_the_request(union: FlaskClient, db: Database,
                                             card: dict[str, Any], says: str) -> None:
    response = no_change(db, lambda: union.post(f"{API}/partner-programmes/ABCDEF/cards",
                                                json={"cards": [{"number": "5555"}, card]}))
    body = assert_error(response, 422, "cards", says)
    assert "card 2" in json.dumps(body["errors"])
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PartnerCard)) == 0


def test_a_csv_import_adds_good_rows_and_rejects_bad_ones_with_their_line(
        union: FlaskClient, db: Database) -> None:
    ok(union.post(f"{API}/partner-programmes/ABCDEF/cards", json={"cards": [
        {"number": "7000001"}]}))
    csv_text = ("\ufefffirst;last;holder\n"
                "7000000;7000999;Sindicat A\n"
                "12;99;too short\n"
                "\n"
                "8000000;8000000;Ion\n"
                "9000;8000;backwards\n"
                "8000000;8000000;again\n"
                "7000500;7000600;inside\n"
                "1;2;3;4\n")
    before = last_change_id(db)
    report = ok(union.post(f"{API}/partner-programmes/ABCDEF/cards/import",
                           data=csv_text.encode(), content_type="text/csv"))
    assert report["added"] == 2 and report["skipped"] == 2
    assert [r["line"] for r in report["rejected"]] == [3, 6, 9]
    assert "4 to 32 digits" in report["rejected"][0]["reason"]
    assert "comes after" in report["rejected"][1]["reason"]
    assert [d["line"] for d in report["duplicates"]] == [7, 8]
    assert [c.key for c in changes_since(db, before)] == [
        "ABCDEF|7000000|7000999", "ABCDEF|8000000|8000000"]

    # a multipart upload, comma-separated, with the number column
    upload = {"file": (io.BytesIO(b"number,holder\nXY998877,Ana\n"), "cards.csv")}
    report = ok(union.post(f"{API}/partner-programmes/ABCDEF/cards/import", data=upload,
                           content_type="multipart/form-data"))
    assert (report["added"], report["rejected"]) == (1, [])

    listed = union.get(f"{API}/partner-programmes/ABCDEF/cards?page_size=2")
    assert json.loads(listed.headers["X-Pagination"])["total"] == 4
    assert [c["first"] for c in ok(listed)] == ["7000000", "7000001"]
    holding = ok(union.get(f"{API}/partner-programmes/ABCDEF/cards?number=7000555"))
    assert [(c["first"], c["last"]) for c in holding] == [("7000000", "7000999")]


@pytest.mark.parametrize(("data", "content_type", "status", "field"), [
    pytest.param(b"", "text/csv", 422, "file", id="empty"),
    pytest.param(b"card,owner\n1234,x\n", "text/csv", 422, "file", id="unknown-header"),
    pytest.param("number\n1234\u00e9\n".encode("latin-1"), "text/csv", 422, "file",
                 id="not-utf8"),
    pytest.param({"other": (io.BytesIO(b"number\n1234\n"), "c.csv")}, "multipart/form-data",
                 422, "file", id="multipart-without-file"),
])
def test_an_unreadable_file_is_refused_whole(union: FlaskClient, db: Database, data: Any,
                                             content_type: str, status: int,
                                             field: str) -> None:
    response = no_change(db, lambda: union.post(f"{API}/partner-programmes/ABCDEF/cards/import",
                                                data=data, content_type=content_type))
    assert_error(response, status, field)


def test_cards_of_an_unknown_programme(union: FlaskClient) -> None:
    assert_error(union.post(f"{API}/partner-programmes/NOPE/cards/import",
                            data=b"number\n1234\n", content_type="text/csv"), 404)
    assert_error(union.post(f"{API}/partner-programmes/NOPE/cards",
                            json={"cards": [{"number": "1234"}]}), 404)
    assert_error(union.get(f"{API}/partner-programmes/NOPE/cards"), 404)


def test_removing_a_card_keeps_it_inactive_and_it_can_come_back(union: FlaskClient,
                                                                db: Database) -> None:
    ok(union.post(f"{API}/partner-programmes/ABCDEF/cards", json={"cards": [
        {"first": "1000", "last": "1999", "holder": "Assoc"}]}))
    body, change, data = one_change(db, lambda: union.delete(
        f"{API}/partner-programmes/ABCDEF/cards/1000-1999"))
    assert (change.entity, change.key, change.op) == ("partner_card", "ABCDEF|1000|1999",
                                                      "upsert")
    assert data == body == {"programme": "ABCDEF", "first": "1000", "last": "1999",
                            "holder": "Assoc", "active": False}
    no_change(db, lambda: union.delete(f"{API}/partner-programmes/ABCDEF/cards/1000-1999"))
    assert_error(union.delete(f"{API}/partner-programmes/ABCDEF/cards/5555"), 404)
    # once removed, its numbers are not covered any more, and the range can come back
    report = ok(union.post(f"{API}/partner-programmes/ABCDEF/cards", json={"cards": [
        {"number": "1500"}, {"first": "1000", "last": "1999"}]}))
    assert report["added"] == 2
    assert ok(union.get(f"{API}/partner-programmes/ABCDEF/cards/1000-1999"))["active"] is True
    assert ok(union.get(f"{API}/partner-programmes/ABCDEF/cards/1500"))["holder"] is None


# -- VIP cards --------------------------------------------------------------------------------

def test_a_vip_card_reaches_every_store(world: FlaskClient, db: Database) -> None:
    body, change, data = one_change(db, lambda: world.post(f"{API}/vip-cards/", json=vip()),
                                    201)
    assert (change.stream, change.entity, change.key, change.op) == (
        "partners", "vip_card", "#VIP#ANA1", "upsert")
    assert data == wire_of(body) == {"code": "#VIP#ANA1", "customer": "Ana Pop",
                                     "percent": "15.00", "valid_until": FUTURE,
                                     "active": True, "version": 1}
    assert body["notify"] == "manager@example.com"  # kept at central, not sent to stores

    url = f"{API}/vip-cards/%23VIP%23ANA1"
    assert ok(world.get(url))["customer"] == "Ana Pop"
    _, change, data = one_change(db, lambda: world.patch(url, json={
        "percent": "20", "notify": "+40 721 123 456"}))
    assert (change.version, data["version"], data["percent"]) == (2, 2, "20.00")
    _, _, data = one_change(db, lambda: world.delete(url))
    assert (data["active"], data["version"]) == (False, 3)
    assert [c["code"] for c in ok(world.get(f"{API}/vip-cards/?customer=ana"))] == [
        "#VIP#ANA1"]
    assert ok(world.get(f"{API}/vip-cards/?active=true")) == []


@pytest.mark.parametrize(("changes", "field", "says"), [
    pytest.param({"code": "VIP123"}, "code", "#VIP#", id="no-prefix"),
    pytest.param({"code": "#VIP#"}, "code", "", id="prefix-only"),
    pytest.param({"code": "#VIP#ana-1"}, "code", "", id="symbols"),
    # A till reads at most 32 characters after the mark: a longer card would work nowhere.
    pytest.param({"code": "#VIP#" + "A" * 33}, "code", "1 to 32", id="longer-than-a-till-reads"),
    pytest.param({"code": " #VIP#ANA1"}, "code", "", id="padded"),
    pytest.param({"percent": "0"}, "percent", "0% VIP", id="rate-0"),
    pytest.param({"percent": "120"}, "percent", "", id="rate-over-100"),
    pytest.param({"valid_until": "2020-01-01T00:00:00+00:00"}, "valid_until", "future",
                 id="already-expired"),
    pytest.param({"notify": "call me"}, "notify", "e-mail", id="bad-notify"),
    pytest.param({"customer": ""}, "customer", "", id="no-customer"),
])
def test_bad_vip_cards_are_refused(world: FlaskClient, db: Database, changes: dict[str, Any],
                                   field: str, says: str) -> None:
    response = no_change(db, lambda: world.post(f"{API}/vip-cards/", json=vip(**changes)))
    assert_error(response, 422, field, says)


def test_vip_codes_are_unique_and_an_edit_cannot_expire_a_card(world: FlaskClient,
                                                               db: Database) -> None:
    ok(world.post(f"{API}/vip-cards/", json=vip()), 201)
    assert_error(no_change(db, lambda: world.post(f"{API}/vip-cards/", json=vip())), 409,
                 "code")
    response = no_change(db, lambda: world.patch(f"{API}/vip-cards/%23VIP%23ANA1", json={
        "valid_until": "2020-01-01T00:00:00+00:00"}))
    assert_error(response, 422, "valid_until", "deactivate")
    assert_error(world.get(f"{API}/vip-cards/%23VIP%23NOBODY"), 404)


# -- seeds/004: the union card at five kiosks and a market ------------------------------------

def test_seed_004_union_card_gives_5_percent_on_everything_but_tobacco(
        world: FlaskClient, db: Database) -> None:
    ok(world.post(f"{API}/partner-programmes/", json=programme()), 201)
    report = ok(world.post(f"{API}/partner-programmes/ABCDEF/cards/import",
                           data=b"first,last,holder\n2012000000,2012999999,Sindicat\n",
                           content_type="text/csv"))
    assert report["added"] == 1
    ok(world.post(f"{API}/exclusions/", json=exclusion()), 201)

    # What a store holds after applying the change log.
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    with db.sessions() as session:
        for change in session.scalars(select(Change).order_by(Change.stream, Change.version)):
            latest[(change.stream, change.entity, change.key)] = json.loads(change.data or "")
    union = latest[("partners", "partner_programme", "ABCDEF")]
    card = latest[("partners", "partner_card", "ABCDEF|2012000000|2012999999")]
    rows = [v for (stream, entity, _), v in latest.items() if entity == "policy"]

    assert all(applies_to_store(union, store, None) for store in [*KIOSKS, "market"])
    assert not applies_to_store(union, "depot", None)
    assert card_in_range("2012345678", card["first"], card["last"])
    assert not card_in_range("2013000000", card["first"], card["last"])

    policies = policies_from_wire(rows, "kiosk-3", None)
    assert [e.code for e in policies.exclusions] == ["NO-TOBACCO"]
    catalogue = {
        "BREAD": Product("BREAD", "Bread", Decimal("2.00"), Decimal("9"), categories=("food",)),
        "CIG": Product("CIG", "Cigarettes", Decimal("20.00"), Decimal("9"),
                       categories=("cigarettes", "tobacco")),
    }
    card_discount = CardDiscount("partner", union["code"], union["version"],
                                 Decimal(union["percent"]))
    basket = price_basket([BasketLine("BREAD", Decimal(1)), BasketLine("CIG", Decimal(1))],
                          catalogue, policies, [card_discount])
    assert [line.amount for line in basket.lines] == [Decimal("1.90"), Decimal("20.00")]
    assert basket.total == Decimal("21.90")


# -- the same on SQLite -----------------------------------------------------------------------

def test_smoke_on_sqlite(sqlite_db: Database) -> None:
    with create_app({"DATABASE": sqlite_db, "TESTING": True}).test_client() as client:
        authorize(client, api_token(sqlite_db))
        ok(client.post(f"{API}/stores/", json={"code": "kiosk-1", "name": "Kiosk"}), 201)
        ok(client.post(f"{API}/categories/", json={"code": "tobacco", "name": "Tobacco"}),
           201)
        _, _, data = one_change(sqlite_db, lambda c=client: c.post(
            f"{API}/discount-rules/", json=rule(stores=["kiosk-1"])), 201)
        assert policy_from_wire(data).percent == Decimal("30.00")  # type: ignore[union-attr]
        one_change(sqlite_db, lambda c=client: c.post(f"{API}/exclusions/", json=exclusion()),
                   201)
        _, _, data = one_change(sqlite_db, lambda c=client: c.patch(
            f"{API}/discount-rules/SALES30", json={"period": {"start": None}}))
        assert data["period"] == {"start": None, "end": END} and data["version"] == 2
        assert_error(client.post(f"{API}/promotions/", json=quantity(buy=0)), 422, "buy")
        ok(client.post(f"{API}/partner-programmes/", json=programme(stores=["kiosk-1"])), 201)
        report = ok(client.post(f"{API}/partner-programmes/ABCDEF/cards/import",
                                data=b"number\n12345678\nbad!\n", content_type="text/csv"))
        assert (report["added"], [r["line"] for r in report["rejected"]]) == (1, [3])
        one_change(sqlite_db, lambda c=client: c.post(f"{API}/vip-cards/", json=vip()), 201)
        heads = {c.stream for c in changes_since(sqlite_db, 0)}
        assert {"policies", "partners"} <= heads
        assert ok(client.get(f"{API}/partner-programmes/ABCDEF"))["percent"] == "5.00"
