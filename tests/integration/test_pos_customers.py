"""/pos/v1/customers: search, create, recall and edit at the till; sales naming a customer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from store_agent.pos.api import create_app
from store_agent.pos.customers import Customers
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from tests.integration.test_store_customers import (  # noqa: F401 - fixtures
    CARD,
    MULLER,
    NOW,
    STEFAN,
    STORE,
    Central,
    central,
    customers,
    store,
)


@pytest.fixture
def client(store: LocalStore, customers: Customers) -> FlaskClient:  # noqa: F811
    app = create_app(store, Replica(store), STORE, lambda: {}, clock=lambda: NOW,
                     customers=customers)
    return app.test_client()


def test_search_by_card_brings_the_observation_and_the_alerts(client: FlaskClient) -> None:
    found = client.get("/pos/v1/customers", query_string={"q": CARD})
    assert found.status_code == 200
    body = found.get_json()
    assert body["by"] == "card" and body["central"] == "not asked"
    [muller] = body["customers"]
    assert muller["observation"] == "Pays by cheque only"
    assert muller["alerts"] == ["Ask for SMS consent", "Top customer: thank them"]
    names = client.get("/pos/v1/customers", query_string={"name": "müller"}).get_json()
    assert [c["id"] for c in names["customers"]] == [MULLER]


def test_a_customer_is_created_recalled_and_edited(client: FlaskClient) -> None:
    made = client.post("/pos/v1/customers", json={
        "fields": {"first_name": "Ana", "last_name": "Ionescu", "mobile": "+40721000000",
                   "extra.shoe_size": "38"}, "cards": ["ABC-123"]})
    assert made.status_code == 201, made.get_json()
    customer_id = made.get_json()["id"]
    got = client.get(f"/pos/v1/customers/{customer_id}").get_json()
    assert got["extra"] == {"shoe_size": "38"} and got["cards"][0]["number"] == "ABC-123"
    edited = client.patch(f"/pos/v1/customers/{customer_id}",
                          json={"fields": {"city": "Cluj"}, "retire_cards": ["ABC-123"]})
    assert edited.status_code == 200
    assert edited.get_json()["city"] == "Cluj"
    assert edited.get_json()["cards"][0]["active"] is False
    form = client.get("/pos/v1/customers/form").get_json()
    assert form["mandatory"] == ["last_name", "mobile"]
    assert [q["field"] for q in form["questions"]] == ["extra.shoe_size"]


@pytest.mark.parametrize(("body", "field"), [
    ({"fields": {"last_name": "X", "mobile": "+40721000000", "email": "a@"}}, "email"),
    ({"fields": {"last_name": "X", "mobile": "not a phone"}}, "mobile"),
    ({"fields": {"last_name": "X", "mobile": "+40721000000", "extra.nope": "1"}},
     "extra.nope"),
    ({"fields": {"last_name": "X", "mobile": "+40721000000"}, "cards": ["2990000000013"]},
     "cards.0"),
    ({"fields": {"mobile": "+40721000000"}}, "last_name"),
    ({"fields": {"last_name": "X", "mobile": "+40721000000"}, "id": "nope"}, "id"),
    ({"fields": "not an object"}, "fields"),
])
def test_bad_input_is_a_4xx_naming_the_field_and_nothing_is_kept(
        client: FlaskClient, store: LocalStore, body: dict[str, Any],  # noqa: F811
        field: str) -> None:
    answer = client.post("/pos/v1/customers", json=body)
    assert answer.status_code == 422, answer.get_json()
    assert field in answer.get_json()["errors"]
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_lookups_that_cannot_work(client: FlaskClient) -> None:
    assert client.get(f"/pos/v1/customers/{uuid.uuid4()}").status_code == 404
    assert client.get("/pos/v1/customers").status_code == 422
    two = client.get("/pos/v1/customers", query_string={"q": "x", "name": "y"})
    assert two.status_code == 422 and "q" in two.get_json()["errors"]
    bad = client.get("/pos/v1/customers", query_string={"card": "29900000000!"})
    assert bad.status_code == 422 and "card" in bad.get_json()["errors"]
    assert client.patch(f"/pos/v1/customers/{uuid.uuid4()}",
                        json={"fields": {"city": "x"}}).status_code == 404


def test_a_sale_names_a_customer_known_here(client: FlaskClient,
                                            central: Central) -> None:  # noqa: F811
    line = [{"code": "bread", "qty": "1"}]
    unknown = client.post("/pos/v1/sales", json={"uuid": str(uuid.uuid4()), "lines": line,
                                                 "customer": str(uuid.uuid4())})
    assert unknown.status_code == 422 and "customer" in unknown.get_json()["errors"]
    central.send(("customer_redirect", STEFAN, {"old": STEFAN, "survivor": MULLER}))
    sold = client.post("/pos/v1/sales", json={"uuid": str(uuid.uuid4()), "lines": line,
                                              "customer": STEFAN})
    assert sold.status_code == 201 and sold.get_json()["customer"] == MULLER


@pytest.mark.parametrize(("body", "field"), [
    ({"fields": {"email": "jm@@example"}}, "email"),
    ({"fields": {"city": "Bari", "mobile": "12"}}, "mobile"),
    ({"fields": {"city": "Bari", "extra.colour": "red"}}, "extra.colour"),
    ({"fields": {"city": "Bari", "extra.shoe_size": "big"}}, "extra.shoe_size"),
    ({"fields": {"city": "Bari"}, "cards": ["2990000000013"]}, "cards.0"),
    ({"fields": {"mobile": None}}, "mobile"),
    ({"fields": {"city": "Bari"}, "retire_cards": "not a list"}, "retire_cards"),
])
def test_bad_input_to_a_customer_held_here_is_a_422_naming_the_field_and_it_stays_as_it_was(
        client: FlaskClient, store: LocalStore, body: dict[str, Any],  # noqa: F811
        field: str) -> None:
    before = client.get(f"/pos/v1/customers/{MULLER}").get_json()
    answer = client.patch(f"/pos/v1/customers/{MULLER}", json=body)
    assert answer.status_code == 422, answer.get_json()
    assert field in answer.get_json()["errors"], answer.get_json()
    assert client.get(f"/pos/v1/customers/{MULLER}").get_json() == before
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM customer_local_edits").fetchone()[0] == 0


@pytest.mark.parametrize(("query", "field"), [
    ({"email": "jm@@example"}, "email"), ({"email": "jm@"}, "email"),
    ({"mobile": "12"}, "mobile"), ({"mobile": "+39 abc"}, "mobile"),
    ({"card": "2990000000013"}, "card"), ({"card": "!"}, "card"), ({"q": " "}, "q"),
])
def test_a_malformed_lookup_is_a_422_naming_the_field(client: FlaskClient,
                                                     query: dict[str, str],
                                                     field: str) -> None:
    answer = client.get("/pos/v1/customers", query_string=query)
    assert answer.status_code == 422, answer.get_json()
    assert field in answer.get_json()["errors"], answer.get_json()
