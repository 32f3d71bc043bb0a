"""Footfall counters (SPEC S7): a counter's push to the agent (all or nothing, repeats
harmless), readings upstream once (kind ``footfall``), visits per store-local day and hour
at central with the conversion rate, in the API, the console page and its Excel export."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from central.app import create_app
from central.bridge.ingester import HANDLERS
from central.db import Database
from central.models import FootfallReading
from central.services import upstream
from protocol import messages, topics
from protocol.encoding import dumps, loads
from store_agent.pos.api import create_app as create_pos_app
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from tests.integration.test_console import make_user, sign_in
from tests.integration.test_ingest import sale
from tests.support import api_token, authorize

pytestmark = pytest.mark.integration

# 09:00 UTC is 10:00 in Rome and 09:00 in Lisbon on 22 November.
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
EPOCH = "a" * 32


def reading(start: str, ins: int, outs: int = 0, minutes: int = 15) -> dict[str, Any]:
    return {"start": start, "minutes": minutes, "in": ins, "out": outs}


@pytest.fixture
def pos(tmp_path: Path) -> tuple[LocalStore, FlaskClient]:
    store = LocalStore(tmp_path / "agent.db")
    return store, create_pos_app(store, Replica(store), "kiosk-1", lambda: {},
                                 clock=lambda: NOW).test_client()


def outbox(store: LocalStore) -> list[tuple[int, str, str, dict[str, Any]]]:
    with store.read() as conn:
        return [(s, k, r, json.loads(b)) for s, k, r, b in conn.execute(
            "SELECT seq, kind, ref, body FROM outbox ORDER BY seq")]


def test_a_push_is_taken_whole_repeats_change_nothing_and_bad_ones_are_refused(
        pos: tuple[LocalStore, FlaskClient]) -> None:
    store, client = pos
    push = {"counter": "door-1", "readings": [reading("2026-11-22T09:00:00+00:00", 12, 10),
                                              reading("2026-11-22T10:15:00+01:00", 7, 9)]}
    first = client.post("/pos/v1/footfall", json=push)
    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {"accepted": 2, "duplicates": 0}
    assert client.post("/pos/v1/footfall", json=push).get_json() == {"accepted": 0,
                                                                     "duplicates": 2}
    entries = outbox(store)
    assert [(k, r) for _s, k, r, _b in entries] == [
        ("footfall", "footfall:door-1:2026-11-22T09:00:00+00:00"),
        ("footfall", "footfall:door-1:2026-11-22T09:15:00+00:00")]
    assert entries[1][3] == {"counter": "door-1", "start": "2026-11-22T09:15:00+00:00",
                             "minutes": 15, "in": 7, "out": 9}

    bad: list[tuple[Any, int, str]] = [
        ({"counter": "door 1", "readings": [reading("2026-11-22T11:00:00+00:00", 1)]}, 422,
         "counter"),
        ({"counter": "door-1", "readings": []}, 422, "readings"),
        ({"counter": "door-1", "readings": [reading("2026-11-22T11:00:00", 1)]}, 422,
         "start"),
        ({"counter": "door-1", "readings": [reading("2026-11-22T11:00:00+00:00", -1)]}, 422,
         "in"),
        ({"counter": "door-1", "readings": [reading("2026-11-22T11:00:00+00:00", 100_001)]},
         422, "in"),
        ({"counter": "door-1", "readings": [{**reading("2026-11-22T11:00:00+00:00", 1),
                                             "in": "3"}]}, 422, "in"),
        ({"counter": "door-1", "readings": [reading("2026-11-22T11:00:00+00:00", 1,
                                                    minutes=0)]}, 422, "minutes"),
        ({"counter": "door-1", "readings": [reading("2026-11-22T11:00:00+00:00", 1)] * 2},
         422, "same interval"),
        ({"counter": "door-1", "readings": [reading(
            (NOW + dt.timedelta(hours=1)).isoformat(), 1)]}, 422, "clock"),
        # one good new reading with a changed old one: neither is kept
        ({"counter": "door-1", "readings": [reading("2026-11-22T11:00:00+00:00", 1),
                                            reading("2026-11-22T09:00:00+00:00", 13, 10)]},
         409, "other counts"),
        ({"counter": "door-1", "readings": [reading(
            (dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i)).isoformat(), 1,
            minutes=1) for i in range(1001)]}, 422, "readings"),
    ]
    for body, status, words in bad:
        answer = client.post("/pos/v1/footfall", json=body)
        assert answer.status_code == status, (body, answer.get_json())
        assert words in json.dumps(answer.get_json()), answer.get_json()
    huge = client.post("/pos/v1/footfall", data=b'{"counter": "' + b"x" * (2 << 20) + b'"}',
                       headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    assert outbox(store) == entries  # nothing accepted before was lost, nothing added


@pytest.fixture
def central(central_db: Database) -> Callable[..., FlaskClient]:
    app = create_app({"DATABASE": central_db, "TESTING": True})
    admin = authorize(app.test_client(), api_token(central_db, "admin"))
    for code, zone in (("kiosk-1", "Europe/Rome"), ("kiosk-2", "Europe/Lisbon")):
        assert admin.post("/api/v1/stores/", json={"code": code, "name": code,
                                                   "time_zone": zone}).status_code == 201

    def make(*roles: str) -> FlaskClient:
        return authorize(app.test_client(), api_token(central_db, *roles))
    return make


def ingest(db: Database, store: str, entries: list[tuple[int, str, str, dict[str, Any]]],
           epoch: str = EPOCH) -> upstream.IngestResult:
    batch = messages.parse(loads(dumps(messages.envelope(
        "batch", store=store, epoch=epoch,
        entries=[{"seq": s, "kind": k, "id": r, "body": b} for s, k, r, b in entries]))),
        "batch")
    with db.transaction() as session:
        return upstream.ingest_batch(session, batch, topics.store_up(store), HANDLERS)


def foot(seq: int, start: str, ins: int) -> tuple[int, str, str, dict[str, Any]]:
    return (seq, "footfall", f"footfall:door-1:{start}",
            {"counter": "door-1", "start": start, "minutes": 30, "in": ins, "out": ins})


def a_sale(seq: int, store: str, at: str) -> tuple[int, str, str, dict[str, Any]]:
    body = sale(seq, str(uuid.uuid4()), store=store, created_at=at)
    return (seq, "sale", body["uuid"], body)


def test_visits_and_conversion_per_store_local_day_and_hour_counted_once(
        central: Callable[..., FlaskClient], central_db: Database) -> None:
    rome = [foot(1, "2026-11-22T09:00:00+00:00", 40), foot(2, "2026-11-22T09:30:00+00:00", 10),
            a_sale(3, "kiosk-1", "2026-11-22T09:10:00+00:00"),
            a_sale(4, "kiosk-1", "2026-11-22T09:50:00+00:00"),
            a_sale(5, "kiosk-1", "2026-11-22T10:05:00+00:00"),
            # 23:30 UTC on the 22nd is already the 23rd in Rome
            foot(6, "2026-11-22T23:30:00+00:00", 4)]
    assert ingest(central_db, "kiosk-1", rome).applied == 6
    assert ingest(central_db, "kiosk-1", rome).applied == 0
    again = ingest(central_db, "kiosk-1", rome, epoch="b" * 32)  # a restored store
    assert again.applied == 0 and again.parked == 0
    lisbon = [foot(1, "2026-11-22T09:00:00+00:00", 20),
              a_sale(2, "kiosk-2", "2026-11-22T09:20:00+00:00")]
    assert ingest(central_db, "kiosk-2", lisbon).applied == 2
    with central_db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(FootfallReading)) == 4

    reader = central("pricing")
    report = reader.get("/api/v1/footfall/?since=2026-11-22&until=2026-11-22").get_json()
    assert report["total"] == {"visits": 70, "sales": 4, "conversion": "5.7"}
    assert [(d["store"], d["visits"], d["sales"], d["conversion"]) for d in report["days"]] \
        == [("kiosk-1", 50, 3, "6.0"), ("kiosk-2", 20, 1, "5.0")]
    assert [(h["hour"], h["visits"], h["sales"]) for h in report["hours"]] == \
        [(9, 20, 1), (10, 50, 2), (11, 0, 1)]
    one = reader.get("/api/v1/footfall/?since=2026-11-23&until=2026-11-23&store=kiosk-1")
    assert one.get_json()["total"] == {"visits": 4, "sales": 0, "conversion": "0.0"}
    assert reader.get("/api/v1/footfall/?since=2026-11-23&until=2026-11-22").status_code \
        == 422
    assert reader.get("/api/v1/footfall/?since=2026-11-22&until=2026-11-22&store=x") \
        .status_code == 404
    assert reader.get("/api/v1/footfall/?since=x&until=2026-11-22").status_code == 422
    assert reader.post("/api/v1/footfall/", json={}).status_code == 405


def test_the_console_page_shows_tables_and_a_chart_and_exports_to_excel(
        central: Callable[..., FlaskClient], central_db: Database) -> None:
    ingest(central_db, "kiosk-1", [foot(1, "2026-11-22T09:00:00+00:00", 40),
                                   a_sale(2, "kiosk-1", "2026-11-22T09:10:00+00:00")])
    app = create_app({"DATABASE": central_db, "TESTING": True, "SECRET_KEY": "test-secret"})
    make_user(central_db, "petra", "pricing")
    console = sign_in(app.test_client(), "petra")
    page = console.get("/footfall?since=2026-11-22&until=2026-11-22")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-day="2026-11-22" data-store="kiosk-1"' in html
    assert "2.5 %" in html and "<svg" in html and "<script" not in html.split("<main")[-1]
    export = console.get("/footfall.xlsx?since=2026-11-22&until=2026-11-22&store=kiosk-1")
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(export.get_data())).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("store", "day", "hour", "visits", "sales", "conversion_percent")
    assert rows[1][0] == "kiosk-1" and rows[1][2:] == (10, 40, 1, 2.5)
