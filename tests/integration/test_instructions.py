"""Instructions to tills (SPEC S4): written at central for stores, groups or one cashier,
carried on each store's store-config stream, shown by the agent while valid, reported seen
once (upstream kind ``seen``) and recorded once at central under replays; the message to
the seller travels the same way."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from central.app import create_app
from central.bridge.ingester import HANDLERS
from central.db import Database
from central.models import Change, InstructionSeen
from central.roles import MARKETING, PRICING
from central.services import upstream
from protocol import messages, topics
from protocol.encoding import dumps, loads
from protocol.entities import ENTITIES
from store_agent.pos.api import create_app as create_pos_app
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from tests.integration.test_console import csrf, make_user, sign_in
from tests.support import api_token, authorize

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
EPOCH_A, EPOCH_B = "a" * 32, "b" * 32


def stream(store: str) -> str:
    return f"store-config@s:{store}"


@pytest.fixture
def client_for(central_db: Database) -> Callable[..., FlaskClient]:
    app = create_app({"DATABASE": central_db, "TESTING": True})

    def make(*roles: str) -> FlaskClient:
        return authorize(app.test_client(), api_token(central_db, *roles))

    return make


@pytest.fixture
def marketing(client_for: Callable[..., FlaskClient]) -> FlaskClient:
    admin = client_for("admin")
    assert admin.post("/api/v1/store-groups/", json={"code": "north", "name": "North"}) \
        .status_code == 201
    for code, group in (("kiosk-1", "north"), ("kiosk-2", "north"), ("kiosk-3", None)):
        assert admin.post("/api/v1/stores/", json={"code": code, "name": code,
                                                   "group": group}).status_code == 201
    assert admin.post("/api/v1/cashiers/", json={
        "code": "anna", "name": "Anna", "pin": "4711", "stores": ["kiosk-1"]}).status_code \
        == 201
    assert admin.post("/api/v1/cashiers/", json={
        "code": "bob", "name": "Bob", "pin": "4712", "stores": ["kiosk-1"]}).status_code == 201
    return client_for(MARKETING)


def changes(db: Database, store: str, after: int = 0) -> list[dict[str, Any]]:
    with db.sessions() as session:
        rows = session.scalars(select(Change).where(
            Change.stream == stream(store), Change.version > after).order_by(Change.version))
        return [{"version": c.version, "entity": c.entity, "key": c.key, "op": c.op,
                 "data": None if c.data is None else json.loads(c.data)} for c in rows]


def to_agent(agent: LocalStore, db: Database, store: str = "kiosk-1") -> None:
    held = agent.stream_versions().get(stream(store), 0)
    Replica(agent).apply(messages.parse(messages.envelope(
        "changes", stream=stream(store), log_epoch="e1", changes=changes(db, store, held))))


def of(db: Database, store: str, entity: str) -> list[dict[str, Any]]:
    return [c for c in changes(db, store) if c["entity"] == entity]


@pytest.fixture
def agent(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "agent.db")


def outbox_entries(agent: LocalStore) -> list[tuple[int, str, str, dict[str, Any]]]:
    with agent.read() as conn:
        return [(seq, kind, ref, json.loads(body)) for seq, kind, ref, body in conn.execute(
            "SELECT seq, kind, ref, body FROM outbox ORDER BY seq")]


def ingest(db: Database, entries: list[tuple[int, str, str, dict[str, Any]]],
           epoch: str = EPOCH_A) -> upstream.IngestResult:
    batch = messages.parse(loads(dumps(messages.envelope(
        "batch", store="kiosk-1", epoch=epoch,
        entries=[{"seq": s, "kind": k, "id": r, "body": b} for s, k, r, b in entries]))),
        "batch")
    with db.transaction() as session:
        return upstream.ingest_batch(session, batch, topics.store_up("kiosk-1"), HANDLERS)


def seen_rows(db: Database) -> list[tuple[int, str, str]]:
    with db.sessions() as session:
        return [(s.instruction_id, s.store.code, s.cashier)
                for s in session.scalars(select(InstructionSeen).order_by(InstructionSeen.id))]


def test_an_instruction_reaches_its_stores_is_shown_while_valid_and_seen_once(
        marketing: FlaskClient, central_db: Database, agent: LocalStore) -> None:
    created = marketing.post("/api/v1/instructions/", json={
        "text": "Check the expiry dates of the yoghurts", "scroll": True,
        "groups": ["north"], "valid_from": "2026-11-22T08:00:00+00:00",
        "valid_until": "2026-11-23T08:00:00+00:00"})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["sent_to"] == ["kiosk-1", "kiosk-2"] and body["scroll"] is True
    number = str(body["id"])
    [change] = of(central_db, "kiosk-1", "instruction")
    ENTITIES["instruction"].load(change["key"], change["data"])
    assert change["key"] == number and change["data"]["text"].startswith("Check")
    assert len(of(central_db, "kiosk-2", "instruction")) == 1
    assert of(central_db, "kiosk-3", "instruction") == []
    # Only for Bob: it goes to Bob's store, and only Bob's till shows it.
    only_bob = marketing.post("/api/v1/instructions/", json={
        "text": "Bob: see the manager", "cashier": "bob"}).get_json()
    assert only_bob["sent_to"] == ["kiosk-1"]

    to_agent(agent, central_db)
    clock = {"now": NOW}
    pos = create_pos_app(agent, Replica(agent), "kiosk-1", lambda: {},
                         clock=lambda: clock["now"]).test_client()
    shown = pos.get("/pos/v1/instructions?cashier=anna").get_json()
    assert [(i["id"], i["scroll"], i["seen"]) for i in shown["instructions"]] == \
        [(number, True, False)]
    assert [i["id"] for i in pos.get("/pos/v1/instructions?cashier=bob").get_json()[
        "instructions"]] == [number, str(only_bob["id"])]

    # Reported three times (polls, a reload): one outbox entry.
    answers = [pos.post(f"/pos/v1/instructions/{number}/seen", json={"cashier": "anna"})
               .get_json()["first"] for _ in range(3)]
    assert answers == [True, False, False]
    assert pos.get("/pos/v1/instructions?cashier=anna").get_json()["instructions"][0]["seen"]
    assert pos.post("/pos/v1/instructions/999/seen", json={}).status_code == 404
    entries = outbox_entries(agent)
    assert [(k, r) for _s, k, r, _b in entries] == [("seen", f"seen:{number}:anna")]

    # Central records it once, under a replay and under another epoch (a restored store).
    assert ingest(central_db, entries).applied == 1
    assert ingest(central_db, entries).applied == 0
    again = ingest(central_db, entries, epoch=EPOCH_B)
    assert (again.applied, again.duplicates, again.parked) == (0, 1, 0)
    assert seen_rows(central_db) == [(int(number), "kiosk-1", "anna")]
    seen = marketing.get(f"/api/v1/instructions/{number}/seen").get_json()
    assert [(s["store"], s["cashier"]) for s in seen] == [("kiosk-1", "anna")]

    # Past its end the till no longer shows it; withdrawn, the stream drops nothing but
    # its validity ends now.
    clock["now"] = NOW + dt.timedelta(days=2)
    assert pos.get("/pos/v1/instructions?cashier=anna").get_json()["instructions"] == []


def test_a_copy_reaches_other_stores_and_a_store_left_is_told(
        marketing: FlaskClient, central_db: Database) -> None:
    first = marketing.post("/api/v1/instructions/", json={
        "text": "Inventory on Sunday", "stores": ["kiosk-1"]}).get_json()
    copied = marketing.post(f"/api/v1/instructions/{first['id']}/copy",
                            json={"stores": ["kiosk-2", "kiosk-3"]})
    assert copied.status_code == 201, copied.get_json()
    assert copied.get_json()["sent_to"] == ["kiosk-2", "kiosk-3"]
    assert copied.get_json()["text"] == "Inventory on Sunday"
    moved = marketing.patch(f"/api/v1/instructions/{first['id']}", json={"stores": ["kiosk-3"]})
    assert moved.status_code == 200 and moved.get_json()["sent_to"] == ["kiosk-3"]
    assert [c["op"] for c in of(central_db, "kiosk-1", "instruction")] == ["upsert", "delete"]
    listed = marketing.get("/api/v1/instructions/?store=kiosk-3").get_json()
    assert sorted(i["id"] for i in listed) == sorted([first["id"], copied.get_json()["id"]])


def test_bad_instructions_are_refused_with_reasons_and_pricing_cannot_write(
        marketing: FlaskClient, client_for: Callable[..., FlaskClient]) -> None:
    cases = [({"text": "", "stores": ["kiosk-1"]}, 422, "text"),
             ({"text": "x" * 2001, "stores": ["kiosk-1"]}, 422, "text"),
             ({"text": "Hi", "stores": ["nowhere"]}, 422, "stores"),
             ({"text": "Hi", "groups": ["south"]}, 422, "groups"),
             ({"text": "Hi"}, 422, "stores"),
             ({"text": "Hi", "stores": ["kiosk-1"], "cashier": "anna"}, 422, "cashier"),
             ({"text": "Hi", "cashier": "zoe"}, 422, "zoe"),
             ({"text": "Hi", "stores": ["kiosk-1"], "valid_from": "2026-11-22T08:00:00+00:00",
               "valid_until": "2026-11-22T07:00:00+00:00"}, 422, "valid_until"),
             ({"text": "Hi", "stores": ["kiosk-1"], "valid_from": "2026-11-22T08:00:00"},
              422, "valid_from")]
    for body, status, field in cases:
        answer = marketing.post("/api/v1/instructions/", json=body)
        assert answer.status_code == status, (body, answer.get_json())
        assert field in json.dumps(answer.get_json()), (body, answer.get_json())
    assert marketing.get("/api/v1/instructions/").get_json() == []
    assert client_for(PRICING).post("/api/v1/instructions/", json={
        "text": "Hi", "stores": ["kiosk-1"]}).status_code == 403


def test_a_seen_of_an_instruction_central_lacks_is_parked_not_lost(
        marketing: FlaskClient, central_db: Database) -> None:
    result = ingest(central_db, [(1, "seen", "seen:77:anna", {
        "instruction": "77", "cashier": "anna", "seen_at": NOW.isoformat()})])
    assert (result.acked, result.applied, result.parked) == (1, 0, 1)
    bad = ingest(central_db, [(2, "seen", "seen:x", {"cashier": "anna"})])
    assert (bad.acked, bad.parked) == (2, 1)


def test_the_message_to_the_seller_reaches_the_till(
        marketing: FlaskClient, central_db: Database, agent: LocalStore) -> None:
    put = marketing.put("/api/v1/seller-messages/kiosk-1",
                        json={"text": "Ask for the customer's e-mail address"})
    assert put.status_code == 200, put.get_json()
    too_long = marketing.put("/api/v1/seller-messages/kiosk-1", json={"text": "x" * 501})
    assert too_long.status_code == 422
    assert marketing.put("/api/v1/seller-messages/nowhere",
                         json={"text": "Hi"}).status_code == 404
    to_agent(agent, central_db)
    pos = create_pos_app(agent, Replica(agent), "kiosk-1", lambda: {},
                         clock=lambda: NOW).test_client()
    assert pos.get("/pos/v1/instructions").get_json()["seller_message"] == \
        "Ask for the customer's e-mail address"
    assert marketing.put("/api/v1/seller-messages/kiosk-1",
                         json={"text": ""}).get_json()["text"] is None
    to_agent(agent, central_db)
    assert pos.get("/pos/v1/instructions").get_json()["seller_message"] is None


def test_the_instruction_page_shows_only_its_own_notices(
        marketing: FlaskClient, central_db: Database) -> None:
    made = marketing.post("/api/v1/instructions/", json={
        "text": "Inventory on Sunday", "stores": ["kiosk-1"]}).get_json()
    make_user(central_db, "mara", MARKETING)
    console = sign_in(create_app({"DATABASE": central_db, "TESTING": True,
                                  "SECRET_KEY": "test-secret"}).test_client(), "mara")

    def page(done: str) -> str:
        answer = console.get(f"/instructions/{made['id']}", query_string={"done": done})
        assert answer.status_code == 200
        return answer.get_data(as_text=True)

    assert "Copied: this is the new instruction." in page("copied")
    assert "Withdrawn." in page("end")
    # A link cannot make the page say something else, as a notice or as an error.
    crafted = page("Your account is blocked: call 0800 123 456")
    # (the language form's return address carries the link URL-encoded, never as text)
    assert "call 0800 123 456" not in crafted and 'role="alert"' not in crafted
    assert 'role="status"' not in crafted
    console.post("/language", data={"language": "it", "next": "/instructions",
                                    "csrf_token": csrf(console, "/instructions")})
    assert "Copiata: questa è la nuova istruzione." in page("copied")
    assert "Ritirata." in page("end")
