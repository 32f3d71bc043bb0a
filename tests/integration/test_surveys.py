"""In-store surveys (SPEC S5): questions and surveys at central, one per store on its
store-config stream, answered after a sale at the agent (checked, once), upstream as
``answer`` entries recorded once per sale and question, results by period and store."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook

from central.app import create_app
from central.db import Database
from central.roles import MARKETING, PRICING
from store_agent.pos.api import create_app as create_pos_app
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from tests.integration.test_cashiers import agent, sale  # noqa: F401 - fixture
from tests.integration.test_console import make_user, sign_in
from tests.integration.test_instructions import changes, ingest, outbox_entries, to_agent
from tests.support import api_token, authorize

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
DAY = "since=2026-11-22&until=2026-11-22"


@pytest.fixture
def client_for(central_db: Database) -> Callable[..., FlaskClient]:
    app = create_app({"DATABASE": central_db, "TESTING": True})

    def make(*roles: str) -> FlaskClient:
        return authorize(app.test_client(), api_token(central_db, *roles))

    return make


@pytest.fixture
def marketing(client_for: Callable[..., FlaskClient]) -> FlaskClient:
    admin = client_for("admin")
    for code in ("kiosk-1", "kiosk-2"):
        assert admin.post("/api/v1/stores/", json={"code": code, "name": code}).status_code \
            == 201
    office = client_for(MARKETING)
    for body in ({"code": "how", "text": "How did you hear of us?",
                  "choices": [{"code": "friend", "text": "A friend"},
                              {"code": "web", "text": "The web"},
                              {"code": "sign", "text": "Passing by"}]},
                 {"code": "again", "text": "Will you come back?",
                  "choices": [{"code": "yes", "text": "Yes"}, {"code": "no", "text": "No"}]}):
        created = office.post("/api/v1/survey-questions/", json=body)
        assert created.status_code == 201, created.get_json()
    made = office.post("/api/v1/surveys/", json={"code": "autumn", "name": "Autumn survey",
                                                 "questions": ["how", "again"]})
    assert made.status_code == 201, made.get_json()
    return office


def test_a_store_asks_its_survey_and_the_answers_reach_central_once(
        marketing: FlaskClient, central_db: Database, agent: LocalStore) -> None:  # noqa: F811
    put = marketing.put("/api/v1/store-surveys/kiosk-1", json={"survey": "autumn"})
    assert put.status_code == 200 and put.get_json()["survey"] == "autumn"
    [change] = [c for c in changes(central_db, "kiosk-1") if c["entity"] == "survey"]
    assert [q["code"] for q in change["data"]["questions"]] == ["how", "again"]
    assert not [c for c in changes(central_db, "kiosk-2") if c["entity"] == "survey"]
    to_agent(agent, central_db)
    pos = create_pos_app(agent, Replica(agent), "kiosk-1", lambda: {},
                         clock=lambda: NOW).test_client()
    shown = pos.get("/pos/v1/survey").get_json()["survey"]
    assert shown["name"] == "Autumn survey" and len(shown["questions"][0]["choices"]) == 3

    body = sale(None)
    assert pos.post("/pos/v1/sales", json=body).status_code == 201
    answers = {"answers": [{"question": "how", "choice": "web"},
                           {"question": "again", "choice": "yes"}]}
    path = f"/pos/v1/sales/{body['uuid']}/survey"
    bad: list[tuple[Any, int, str]] = [
        ({"answers": [{"question": "nope", "choice": "web"}]}, 422, "not a question"),
        ({"answers": [{"question": "how", "choice": "tv"}]}, 422, "not a choice"),
        ({"answers": [{"question": "how", "choice": "web"}] * 2}, 422, "twice"),
        ({"answers": []}, 422, "answers"),
        ({"answers": [{"question": "how"}]}, 422, "choice"),
        ({"answers": [{"question": "how", "choice": "x" * 33}]}, 422, "choice"),
    ]
    for payload, status, words in bad:
        answer = pos.post(path, json=payload)
        assert answer.status_code == status, (payload, answer.get_json())
        assert words in json.dumps(answer.get_json()), answer.get_json()
    assert pos.post(f"/pos/v1/sales/{uuid.uuid4()}/survey", json=answers).status_code == 404
    assert pos.post(path, json=answers).get_json()["first"] is True
    assert pos.post(path, json=answers).get_json()["first"] is False
    other = {"answers": [{"question": "how", "choice": "friend"}]}
    assert pos.post(path, json=other).status_code == 409
    entries = outbox_entries(agent)
    assert [k for _s, k, _r, _b in entries] == ["sale", "answer"]
    assert entries[1][2] == f"answer:{body['uuid']}"

    assert ingest(central_db, entries).applied == 2
    assert ingest(central_db, entries).applied == 0
    assert ingest(central_db, entries, epoch="b" * 32).applied == 0
    results = marketing.get(f"/api/v1/survey-results/?{DAY}").get_json()
    assert results["sales"] == 1
    assert [(q["question"], q["total"], [(c["choice"], c["count"]) for c in q["choices"]])
            for q in results["questions"]] == [("how", 1, [("web", 1)]),
                                               ("again", 1, [("yes", 1)])]
    assert marketing.get(f"/api/v1/survey-results/?{DAY}&store=kiosk-2").get_json() == \
        {"sales": 0, "questions": []}

    # Removed from the store: its tills stop asking.
    assert marketing.put("/api/v1/store-surveys/kiosk-1", json={"survey": None}) \
        .get_json()["survey"] is None
    to_agent(agent, central_db)
    assert pos.get("/pos/v1/survey").get_json() == {"survey": None}


def test_editing_a_question_sends_the_survey_again_and_bad_input_is_refused(
        marketing: FlaskClient, central_db: Database,
        client_for: Callable[..., FlaskClient]) -> None:
    marketing.put("/api/v1/store-surveys/kiosk-2", json={"survey": "autumn"})
    edited = marketing.patch("/api/v1/survey-questions/again", json={
        "text": "Will you come back soon?"})
    assert edited.status_code == 200
    sent = [c for c in changes(central_db, "kiosk-2") if c["entity"] == "survey"]
    assert len(sent) == 2 and sent[-1]["data"]["questions"][1]["text"] == \
        "Will you come back soon?"
    cases = [("/api/v1/survey-questions/", {"code": "q", "text": "Q?", "choices": [
                 {"code": "a", "text": "A"}]}, 422, "choices"),
             ("/api/v1/survey-questions/", {"code": "q", "text": "Q?", "choices": [
                 {"code": "a", "text": "A"}, {"code": "a", "text": "B"}]}, 422, "choices"),
             ("/api/v1/survey-questions/", {"code": "how", "text": "Q?", "choices": [
                 {"code": "a", "text": "A"}, {"code": "b", "text": "B"}]}, 409, "taken"),
             ("/api/v1/surveys/", {"code": "s", "name": "S", "questions": []}, 422,
              "questions"),
             ("/api/v1/surveys/", {"code": "s", "name": "S", "questions": ["zzz"]}, 422, "zzz"),
             ("/api/v1/surveys/", {"code": "s", "name": "S", "questions": ["how", "how"]}, 422,
              "questions")]
    for url, body, status, words in cases:
        answer = marketing.post(url, json=body)
        assert answer.status_code == status, (body, answer.get_json())
        assert words in json.dumps(answer.get_json()), answer.get_json()
    unknown = marketing.put("/api/v1/store-surveys/kiosk-1", json={"survey": "none"})
    assert unknown.status_code == 422 and "survey" in unknown.get_json()["errors"]
    assert marketing.put("/api/v1/store-surveys/nowhere", json={"survey": "how"}) \
        .status_code == 404  # the store in the path is the resource
    assert client_for(PRICING).post("/api/v1/surveys/", json={
        "code": "s", "name": "S", "questions": ["how"]}).status_code == 403


def test_the_results_page_charts_counts_and_exports_raw_answers(
        marketing: FlaskClient, central_db: Database) -> None:
    entries = []
    for seq, (how, again) in enumerate((("web", "yes"), ("web", "no"), ("friend", "yes")), 1):
        entries.append((seq, "answer", f"answer:{uuid.uuid4()}", {
            "sale": str(uuid.uuid4()), "survey": "autumn", "cashier": "anna",
            "answered_at": NOW.isoformat(), "answers": [
                {"question": "how", "question_text": "How?", "choice": how,
                 "choice_text": how.title()},
                {"question": "again", "question_text": "Again?", "choice": again,
                 "choice_text": again.title()}]}))
    assert ingest(central_db, entries).applied == 3
    app = create_app({"DATABASE": central_db, "TESTING": True, "SECRET_KEY": "test-secret"})
    make_user(central_db, "mara", "marketing")
    console = sign_in(app.test_client(), "mara")
    page = console.get(f"/surveys/results?{DAY}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html and 'data-result="how:web">2<' in html
    export = console.get(f"/surveys/results.xlsx?{DAY}&store=kiosk-1")
    assert export.status_code == 200
    book = load_workbook(io.BytesIO(export.get_data()))
    assert book.sheetnames == ["Results", "Answers"]
    counts = list(book["Results"].iter_rows(values_only=True))
    assert counts[0] == ("question", "question_text", "choice", "choice_text", "count")
    assert ("how", "How?", "web", "Web", 2) in counts
    raw = list(book["Answers"].iter_rows(values_only=True))
    assert raw[0] == ("answered_at", "store", "sale", "cashier", "survey", "question",
                      "question_text", "choice", "choice_text")
    assert len(raw) == 7 and {r[1] for r in raw[1:]} == {"kiosk-1"}
