"""REST of the customer registry: bad input is a 4xx naming the field and changes nothing;
records, cards, merge, export, erase, extra questions, alerts and lists work end to end."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from central.app import create_app
from central.db import Database
from central.models import Change, Customer
from central.services import auth
from rules.cards import loyalty_card_number
from tests.integration.test_customers import card, misread
from tests.support import api_token, authorize

pytestmark = pytest.mark.integration

API = "/api/v1"


@pytest.fixture
def db(clean_pg_db: Database) -> Database:
    return clean_pg_db


@pytest.fixture
def client(db: Database) -> Iterator[FlaskClient]:
    app = create_app({"DATABASE": db, "TESTING": True})
    with app.test_client() as client:
        yield authorize(client, api_token(db))


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def held(db: Database) -> tuple[int, int]:
    with db.sessions() as session:
        return (int(session.scalar(select(func.count()).select_from(Customer)) or 0),
                int(session.scalar(select(func.count()).select_from(Change)) or 0))


@pytest.mark.parametrize(("body", "field"), [
    ({"first_name": "Ana", "email": "ana@@example"}, "email"),
    ({"first_name": "Ana", "mobile": "12"}, "mobile"),
    ({"first_name": "Ana", "extra.colour": "red"}, "extra.colour"),
    ({"first_name": "Ana", "cards": [{"number": misread(1), "kind": "loyalty"}]},
     "cards[0].number"),
    ({"first_name": "Ana", "birth_date": "2999-01-01"}, "birth_date"),
    ({"first_name": "Ana", "nickname": "x"}, "nickname"),
])
def test_bad_customer_input_is_a_422_naming_the_field_and_nothing_changes(
        client: FlaskClient, db: Database, body: dict[str, Any], field: str) -> None:
    before = held(db)
    response = client.post(f"{API}/customers/", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert held(db) == before


@pytest.mark.parametrize(("path", "body", "field"), [
    ("", {"email": "ana@@example"}, "email"),
    ("", {"email": "ana@example.com", "mobile": "12"}, "mobile"),
    ("", {"city": "Roma", "extra.colour": "red"}, "extra.colour"),
    ("", {"city": "Roma", "extra.shoe_size": "big"}, "extra.shoe_size"),
    ("", {"city": "Roma", "cards": [{"number": misread(2)}]}, "cards[0].number"),
    ("", {"last_name": None}, "last_name"),
    ("/cards", {"number": misread(2)}, "cards[0].number"),
    ("/cards", {"number": card(2), "kind": "gold"}, "cards[0].kind"),
])
def test_bad_input_to_a_known_customer_is_a_422_naming_the_field_and_it_stays_as_it_was(
        client: FlaskClient, db: Database, path: str, body: dict[str, Any],
        field: str) -> None:
    ok(client.post(f"{API}/customer-fields/", json={"code": "shoe_size", "label": "Shoe size",
                                                    "kind": "number"}), 201)
    ok(client.put(f"{API}/customer-fields/mandatory", json={"fields": ["last_name"]}))
    ana = ok(client.post(f"{API}/customers/", json={
        "first_name": "Ana", "last_name": "Rossi", "email": "ana@example.it",
        "mobile": "+393331234567", "extra.shoe_size": "38",
        "cards": [{"number": card(1)}]}), 201)
    before = held(db), ok(client.get(f"{API}/customers/{ana['id']}/export"))
    send = client.post if path else client.patch
    response = send(f"{API}/customers/{ana['id']}{path}", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"], response.get_json()
    assert (held(db), ok(client.get(f"{API}/customers/{ana['id']}/export"))) == before


def test_an_alert_changed_to_a_condition_that_does_not_parse_keeps_its_old_one(
        client: FlaskClient, db: Database) -> None:
    alert = {"code": "big", "position": 1, "message": "Thank them",
             "condition": "total_spend >= 1000"}
    ok(client.post(f"{API}/customer-alerts/", json=alert), 201)
    before = held(db), ok(client.get(f"{API}/customer-alerts/"))
    for condition in ("total_spend >= ", "shoe_size = 3", "email is", "1000 <= total_spend",
                      "__import__('os')"):
        response = client.post(f"{API}/customer-alerts/", json={**alert,
                                                                "condition": condition})
        assert response.status_code == 422, (condition, response.get_json())
        assert "condition" in response.get_json()["errors"], condition
    assert (held(db), ok(client.get(f"{API}/customer-alerts/"))) == before
    preview = client.post(f"{API}/customer-alerts/preview", json={"condition": "visits >>"})
    assert preview.status_code == 422 and "condition" in preview.get_json()["errors"]


def test_an_alert_that_does_not_parse_is_a_422_naming_the_condition(client: FlaskClient,
                                                                    db: Database) -> None:
    before = held(db)
    response = client.post(f"{API}/customer-alerts/", json={
        "code": "x", "position": 1, "message": "Hi", "condition": "total_spend >= and"})
    assert response.status_code == 422 and "condition" in response.get_json()["errors"]
    assert held(db) == before
    bad_list = client.post(f"{API}/customer-lists/count", json={
        "criteria": [{"field": "visits", "operator": "at_least", "value": "many"}]})
    assert bad_list.status_code == 422 and "criteria.visits" in bad_list.get_json()["errors"]


def test_a_customer_lives_through_cards_merge_export_and_erase(client: FlaskClient,
                                                              db: Database) -> None:
    ok(client.post(f"{API}/customer-fields/", json={"code": "shoe_size", "label": "Shoe size",
                                                    "kind": "number"}), 201)
    ok(client.put(f"{API}/customer-fields/mandatory", json={"fields": ["last_name"]}))
    missing = client.post(f"{API}/customers/", json={"first_name": "Ana"})
    assert missing.status_code == 422 and "last_name" in missing.get_json()["errors"]
    ana = ok(client.post(f"{API}/customers/", json={
        "first_name": "Ana", "last_name": "Müller", "mobile": "333 123 4567",
        "extra.shoe_size": "38", "cards": [{"number": card(1)}]}), 201)
    assert ana["customer"]["mobile"] == "+393331234567"
    assert ana["customer"]["extra"] == {"shoe_size": "38"}
    taken = client.post(f"{API}/customers/", json={"last_name": "X",
                                                   "cards": [{"number": card(1)}]})
    assert taken.status_code == 409
    twin = ok(client.post(f"{API}/customers/", json={"last_name": "Muller",
                                                     "mobile": "+39 333 1234567"}), 201)
    found = ok(client.get(f"{API}/customers/?q=muller"))
    assert {c["id"] for c in found} == {ana["id"], twin["id"]}
    dupes = ok(client.get(f"{API}/customers/duplicates"))
    assert [set(d["reasons"]) for d in dupes] == [{"same mobile"}]
    # a lost card replaced: the old one retired, the history kept
    replaced = ok(client.post(f"{API}/customers/{ana['id']}/cards",
                              json={"number": card(2), "replaces": card(1)}), 201)
    assert {(c["number"], c["active"]) for c in replaced["cards"]} == {(card(1), False),
                                                                        (card(2), True)}
    merged = ok(client.post(f"{API}/customers/merge", json={"a": twin["id"], "b": ana["id"]}))
    assert merged["id"] == ana["id"]
    assert ok(client.get(f"{API}/customers/{twin['id']}"))["id"] == ana["id"]
    exported = ok(client.get(f"{API}/customers/{twin['id']}/export"))
    assert exported["merged_from"] == [twin["id"]] and len(exported["history"]) == 3
    assert exported["audit"][0]["by"].startswith("test-")
    erased = ok(client.post(f"{API}/customers/{ana['id']}/erase"))
    assert erased["customer"]["erased"] and erased["customer"]["last_name"] is None
    assert "Müller" not in json.dumps(ok(client.get(f"{API}/customers/{ana['id']}/export")))
    again = client.patch(f"{API}/customers/{ana['id']}", json={"last_name": "Back"})
    assert again.status_code == 409


def test_a_list_exports_to_excel_with_a_formula_name_as_text(client: FlaskClient) -> None:
    ok(client.post(f"{API}/customers/", json={"first_name": "=HYPERLINK(1)",
                                              "postcode": "75017"}), 201)
    ok(client.post(f"{API}/customers/", json={"first_name": "Bob", "postcode": "00100"}), 201)
    criteria = {"criteria": [{"field": "postcode", "operator": "equals", "value": "75017"}]}
    assert ok(client.post(f"{API}/customer-lists/count", json=criteria)) == {"count": 1}
    page = ok(client.post(f"{API}/customer-lists/customers?page_size=5", json=criteria))
    assert [c["customer"]["first_name"] for c in page] == ["=HYPERLINK(1)"]
    book = client.post(f"{API}/customer-lists/export?format=xlsx", json=criteria)
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("id", "first_name", "last_name")
    # In Excel the name is a text cell holding exactly what was typed, never a formula.
    assert len(rows) == 2 and rows[1][1] == "=HYPERLINK(1)"
    assert sheet.cell(row=2, column=2).data_type == "s"
    text = client.post(f"{API}/customer-lists/export", json=criteria).data.decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text and "Bob" not in text


def test_a_multi_criteria_list_exports_to_excel_with_exactly_its_rows(
        client: FlaskClient) -> None:
    people = [("=HYPERLINK(1)", "75017", "+393331230001", 2),
              ("Bob", "00100", "+393331230002", 3), ("Carla", "75017", None, 4),
              ("Dario", "75017", "+393331230003", None), ("@SUM(A1)", "75017", "+393331230004", 5)]
    for first, postcode, mobile, serial in people:
        ok(client.post(f"{API}/customers/", json={
            "first_name": first, "last_name": "X", "postcode": postcode, "mobile": mobile,
            "cards": [{"number": card(serial)}] if serial else []}), 201)
    criteria = {"match": "all", "criteria": [
        {"field": "postcode", "operator": "equals", "value": "75017"},
        {"field": "has_phone", "operator": "is_true"},
        {"field": "has_card", "operator": "is_true"}]}
    assert ok(client.post(f"{API}/customer-lists/count", json=criteria)) == {"count": 2}
    book = client.post(f"{API}/customer-lists/export?format=xlsx", json=criteria)
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.data)).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    first = header.index("first_name")
    assert sorted(r[first] for r in rows) == ["=HYPERLINK(1)", "@SUM(A1)"]
    assert all(sheet.cell(row=i, column=first + 1).data_type == "s" for i in (2, 3))
    either = {"match": "any", "criteria": [
        {"field": "postcode", "operator": "equals", "value": "00100"},
        {"field": "has_card", "operator": "is_false"}]}
    book = client.post(f"{API}/customer-lists/export?format=xlsx", json=either)
    header, *rows = list(load_workbook(io.BytesIO(book.data)).active.iter_rows(
        values_only=True))
    assert sorted(r[first] for r in rows) == ["Bob", "Dario"]


def test_an_alert_is_saved_with_its_preview_count(client: FlaskClient) -> None:
    ok(client.post(f"{API}/customers/", json={"first_name": "Ana"}), 201)
    saved = ok(client.post(f"{API}/customer-alerts/", json={
        "code": "no-mail", "position": 1, "message": "Ask for the e-mail",
        "condition": "email is empty"}), 201)
    assert saved["matches"] == 1
    assert [a["code"] for a in ok(client.get(f"{API}/customer-alerts/"))] == ["no-mail"]


def test_who_may_do_what(db: Database) -> None:
    app = create_app({"DATABASE": db, "TESTING": True})
    with app.test_client() as client:
        authorize(client, api_token(db, auth.READ_ONLY))
        assert client.get(f"{API}/customers/").status_code == 200
        assert client.post(f"{API}/customers/", json={"first_name": "A"}).status_code == 403
        made_by_service = api_token(db, auth.CUSTOMER_SERVICE)
        authorize(client, made_by_service)
        made = ok(client.post(f"{API}/customers/", json={"first_name": "A"}), 201)
        assert client.get(f"{API}/customers/{made['id']}/export").status_code == 200
        assert client.post(f"{API}/customer-alerts/", json={}).status_code == 403
        authorize(client, api_token(db, auth.MARKETING))
        assert client.get(f"{API}/customers/{made['id']}/export").status_code == 403


def test_the_registration_form_and_a_card_print_as_pdf(client: FlaskClient) -> None:
    ok(client.post(f"{API}/customer-fields/", json={"code": "size", "label": "Size",
                                                    "kind": "choice", "choices": ["S", "M"]}),
       201)
    form = client.get(f"{API}/customer-fields/registration.pdf?language=it&store=Kiosk")
    assert form.status_code == 200 and form.data.startswith(b"%PDF")
    ana = ok(client.post(f"{API}/customers/", json={"first_name": "Ana", "language": "ro",
                                                    "cards": [{"number": card(3)}]}), 201)
    printed = client.get(f"{API}/customers/{ana['id']}/card.pdf")
    assert printed.status_code == 200 and printed.data.startswith(b"%PDF")
    other = client.get(f"{API}/customers/{ana['id']}/card.pdf?number={card(4)}")
    assert other.status_code == 422 and "number" in other.get_json()["errors"]


def test_a_new_card_holder_joins_the_profile_of_the_cards_prefix(client: FlaskClient) -> None:
    """SPEC L1: the prefix (main or alternative) of a customer's first chain card says
    which loyalty profile the customer joins; without one, the default profile."""
    for code, prefix, default in (("BASE", "299", True), ("GOLD", "2981", False)):
        ok(client.post(f"{API}/loyalty/profiles/", json={
            "code": code, "description": code.title(), "card_prefix": prefix,
            "default": default, "alternative_prefixes": ["2982"] if code == "GOLD" else []}),
           201)
    early = ok(client.post(f"{API}/customers/", json={"last_name": "Presto"}), 201)
    gold = ok(client.post(f"{API}/customers/", json={
        "last_name": "Oro", "cards": [{"number": loyalty_card_number("2982", 5)}]}), 201)
    assert gold["customer"]["profile"] == "GOLD"
    # merged into a customer made earlier without a card: the survivor is a member now
    merged = ok(client.post(f"{API}/customers/merge", json={"a": gold["id"],
                                                             "b": early["id"]}))
    assert (merged["id"], merged["customer"]["profile"]) == (early["id"], "GOLD")
    plain = ok(client.post(f"{API}/customers/", json={"last_name": "Piano"}), 201)
    assert plain["customer"]["profile"] is None
    carded = ok(client.post(f"{API}/customers/{plain['id']}/cards",
                            json={"number": card(3)}), 201)
    assert carded["customer"]["profile"] == "BASE"
    # a later card of another profile does not move a member
    moved = ok(client.post(f"{API}/customers/{plain['id']}/cards",
                           json={"number": loyalty_card_number("2981", 9)}), 201)
    assert moved["customer"]["profile"] == "BASE"
