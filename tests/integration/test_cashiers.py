"""Cashiers (SPEC S8): defined at central with a hashed PIN and their stores, carried on
each store's own store-config stream to the agent, signed in there offline, named by sales."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from central.app import create_app
from central.db import Database
from central.models import Cashier, Change
from central.roles import PRICING, TECHNICIAN
from protocol import messages
from protocol.entities import ENTITIES
from store_agent.pos.api import create_app as create_pos_app
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from tests.support import api_token, authorize

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
STREAM = "store-config@s:kiosk-1"


@pytest.fixture
def client_for(central_db: Database) -> Callable[..., FlaskClient]:
    app = create_app({"DATABASE": central_db, "TESTING": True})

    def make(*roles: str) -> FlaskClient:
        return authorize(app.test_client(), api_token(central_db, *roles))

    return make


@pytest.fixture
def technician(client_for: Callable[..., FlaskClient]) -> FlaskClient:
    admin = client_for("admin")
    for code in ("kiosk-1", "kiosk-2"):
        assert admin.post("/api/v1/stores/", json={"code": code, "name": code}).status_code \
            == 201
    return client_for(TECHNICIAN)


def cashier_changes(db: Database, stream: str, after: int = 0,
                    entity: str | None = "cashier") -> list[dict[str, Any]]:
    with db.sessions() as session:
        query = select(Change).where(Change.stream == stream, Change.version > after)
        if entity is not None:
            query = query.where(Change.entity == entity)
        rows = session.scalars(query
                               .order_by(Change.version))
        return [{"version": c.version, "entity": c.entity, "key": c.key, "op": c.op,
                 "data": None if c.data is None else json.loads(c.data)} for c in rows]


def to_agent(store: LocalStore, db: Database) -> None:
    """What the publisher would send: the stream's changes the store does not hold yet."""
    held = store.stream_versions().get(STREAM, 0)
    Replica(store).apply(messages.parse(messages.envelope(
        "changes", stream=STREAM, log_epoch="e1",
        changes=cashier_changes(db, STREAM, held, entity=None))))


@pytest.fixture
def agent(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "agent.db")
    Replica(store).apply(messages.parse(messages.envelope("changes", stream="catalog",
        log_epoch="e1", changes=[{"version": 1, "entity": "product", "key": "bread",
                                  "op": "upsert", "data": {
                                      "sku": "bread", "name": "Bread", "category": None,
                                      "brand": None, "vat_rate": "9.00",
                                      "sale_price": "1.15", "active": True,
                                      "barcodes": ["4006381333931"]}}])))
    return store


def sale(cashier: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"uuid": str(uuid.uuid4()), "till": "T1",
                            "lines": [{"code": "bread", "qty": "1"}],
                            "payments": [{"method": "cash", "amount": "2.00"}]}
    if cashier is not None:
        body["cashier"] = cashier
    return body


def test_a_cashier_reaches_their_store_signs_in_offline_and_names_the_sale(
        technician: FlaskClient, central_db: Database, agent: LocalStore) -> None:
    created = technician.post("/api/v1/cashiers/", json={
        "code": "anna", "name": "Anna Rossi", "pin": "4711", "stores": ["kiosk-1"]})
    assert created.status_code == 201, created.get_json()
    assert created.get_json() == {"code": "anna", "name": "Anna Rossi", "active": True,
                                  "stores": ["kiosk-1"],
                                  "created_at": created.get_json()["created_at"]}
    with central_db.sessions() as session:
        stored = session.scalar(select(Cashier).where(Cashier.code == "anna"))
        assert stored is not None and stored.pin_hash.startswith("$argon2")
        assert "4711" not in stored.pin_hash
    [change] = cashier_changes(central_db, STREAM)
    assert change["entity"] == "cashier" and change["op"] == "upsert"
    ENTITIES["cashier"].load(change["key"], change["data"])  # the registry's schema holds
    assert cashier_changes(central_db, "store-config@s:kiosk-2") == []

    to_agent(agent, central_db)
    pos = create_pos_app(agent, Replica(agent), "kiosk-1", lambda: {},
                         clock=lambda: NOW).test_client()
    listed = pos.get("/pos/v1/cashiers").get_json()
    assert listed == {"required": True, "cashiers": [{"code": "anna", "name": "Anna Rossi"}]}
    assert pos.post("/pos/v1/cashiers/sign-in",
                    json={"code": "anna", "pin": "0000"}).status_code == 401
    signed = pos.post("/pos/v1/cashiers/sign-in", json={"code": "anna", "pin": "4711"})
    assert signed.status_code == 200 and signed.get_json() == {"code": "anna",
                                                               "name": "Anna Rossi"}
    # The store has cashiers: a sale by nobody, or by a stranger, is refused, nothing kept.
    for who in (None, "bob"):
        refused = pos.post("/pos/v1/sales", json=sale(who))
        assert refused.status_code == 422 and "cashier" in refused.get_json()["errors"]
    recorded = pos.post("/pos/v1/sales", json=sale("anna"))
    assert recorded.status_code == 201, recorded.get_json()
    assert recorded.get_json()["cashier"] == "anna"
    with agent.read() as conn:
        assert conn.execute("SELECT count(*) FROM sales").fetchone()[0] == 1
        [(kind, body)] = conn.execute("SELECT kind, body FROM outbox").fetchall()
    assert kind == "sale" and json.loads(body)["cashier"] == "anna"

    # Moved to the other store: kiosk-1 hears the cashier is gone, kiosk-2 gets them.
    moved = technician.patch("/api/v1/cashiers/anna", json={"stores": ["kiosk-2"]})
    assert moved.status_code == 200 and moved.get_json()["stores"] == ["kiosk-2"]
    [gone] = cashier_changes(central_db, STREAM, after=change["version"])
    assert gone["op"] == "delete" and gone["key"] == "anna"
    assert [c["op"] for c in cashier_changes(central_db, "store-config@s:kiosk-2")] == \
        ["upsert"]
    to_agent(agent, central_db)
    assert pos.post("/pos/v1/cashiers/sign-in",
                    json={"code": "anna", "pin": "4711"}).status_code == 401
    # No cashier left: the free-text field of older tills is accepted again.
    assert pos.get("/pos/v1/cashiers").get_json() == {"required": False, "cashiers": []}


def test_repeated_wrong_pins_lock_the_sign_in_for_a_while(
        technician: FlaskClient, central_db: Database, agent: LocalStore) -> None:
    assert technician.post("/api/v1/cashiers/", json={
        "code": "anna", "name": "Anna", "pin": "4711", "stores": ["kiosk-1"]}).status_code == 201
    to_agent(agent, central_db)
    pos = create_pos_app(agent, Replica(agent), "kiosk-1", lambda: {},
                         clock=lambda: NOW).test_client()
    answers = [pos.post("/pos/v1/cashiers/sign-in", json={"code": "anna", "pin": "1111"})
               .status_code for _ in range(5)]
    assert answers == [401] * 5
    locked = pos.post("/pos/v1/cashiers/sign-in", json={"code": "anna", "pin": "4711"})
    assert locked.status_code == 429 and "too many" in locked.get_json()["message"]


def test_bad_cashiers_are_refused_with_reasons_and_only_technicians_write(
        technician: FlaskClient, client_for: Callable[..., FlaskClient]) -> None:
    cases = [({"code": "anna", "name": "Anna", "pin": "12", "stores": []}, "pin"),
             ({"code": "anna", "name": "Anna", "pin": "12ab", "stores": []}, "pin"),
             ({"code": "a b", "name": "Anna", "pin": "1234", "stores": []}, "code"),
             ({"code": "anna", "name": "Anna", "pin": "1234", "stores": ["nowhere"]},
              "stores"),
             # what the fuzzer found: a NUL or a lone surrogate reached PostgreSQL (500)
             ({"code": "anna", "name": "Anna", "pin": "1234", "stores": ["kiosk\x00"]},
              "stores"),
             ({"code": "anna", "name": "Anna", "pin": "1234", "stores": ["\ud800"]},
              "stores")]
    for body, field in cases:
        answer = technician.post("/api/v1/cashiers/", json=body)
        assert answer.status_code == 422, (body, answer.get_json())
        assert field in json.dumps(answer.get_json()), answer.get_json()
    assert technician.get("/api/v1/cashiers/").get_json() == []
    ok = {"code": "anna", "name": "Anna", "pin": "1234", "stores": ["kiosk-1"]}
    assert technician.post("/api/v1/cashiers/", json=ok).status_code == 201
    assert technician.post("/api/v1/cashiers/", json=ok).status_code == 409
    assert client_for(PRICING).post("/api/v1/cashiers/", json={**ok, "code": "bob"}) \
        .status_code == 403
    listed = client_for(PRICING).get("/api/v1/cashiers/?store=kiosk-1").get_json()
    assert [c["code"] for c in listed] == ["anna"] and "pin" not in listed[0]
    assert technician.get("/api/v1/cashiers/?store=kiosk-2").get_json() == []
