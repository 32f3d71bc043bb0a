"""Enrolment codes at central: issued by a technician, redeemed once by a shop PC, kept hashed;
and the Prometheus metrics page."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from central.app import create_app
from central.db import Database
from central.models import BrokerCredential, EnrolmentCode
from central.roles import PRICING, TECHNICIAN
from central.services import enrolment
from tests.support import api_token, authorize

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(central_db: Database) -> Database:
    return central_db


@pytest.fixture
def app_config(clock: Clock) -> dict[str, Any]:
    return {"CLOCK": clock}


@pytest.fixture
def make_client(app: Flask, central_db: Database) -> Callable[..., FlaskClient]:

    def make(*roles: str) -> FlaskClient:
        client = app.test_client()
        if roles:
            authorize(client, api_token(central_db, *roles))
        return client

    return make


@pytest.fixture
def technician(make_client: Callable[..., FlaskClient]) -> FlaskClient:
    client = make_client(TECHNICIAN)
    assert client.post("/api/v1/store-groups/", json={"code": "kiosks",
                                                      "name": "Kiosks"}).status_code == 201
    assert client.post("/api/v1/stores/", json={"code": "kiosk-7", "name": "Kiosk 7",
                                                "group": "kiosks"}).status_code == 201
    return client


def issue(client: FlaskClient, store: str = "kiosk-7", **body: object) -> dict[str, object]:
    response = client.post(f"/api/v1/stores/{store}/enrolment-codes", json=body)
    assert response.status_code == 201, response.get_json()
    result: dict[str, object] = response.get_json()
    return result


def redeem(client: FlaskClient, code: object) -> tuple[int, dict[str, object]]:
    response = client.post("/api/v1/enrolments/", json={"code": code})
    return response.status_code, response.get_json()


def test_a_code_is_redeemed_once_for_the_store_identity_and_its_own_broker_login(
        technician: FlaskClient, make_client: Callable[..., FlaskClient],
        central_db: Database) -> None:
    issued = issue(technician)
    code = str(issued["code"])
    assert issued["store"] == "kiosk-7"
    assert dt.datetime.fromisoformat(str(issued["expires_at"])) == T0 + dt.timedelta(hours=24)

    shop_pc = make_client()  # no token: the code is the only credential
    status, body = redeem(shop_pc, code.lower())  # typed by hand: case does not matter
    assert status == 200, body
    assert body["store"]["code"] == "kiosk-7"  # type: ignore[index]
    broker = body["broker"]
    assert broker["username"] == "kiosk-7"  # type: ignore[index]
    assert len(broker["password"]) >= 20  # type: ignore[index]
    # The streams it must follow, at their current heads: the store and its group are there.
    streams = body["streams"]
    assert isinstance(streams, dict) and streams
    assert all(stream.split("@")[-1] in ("catalog", "s:kiosk-7", "g:kiosks") or "@" not in
               stream for stream in streams), streams

    status, again = redeem(shop_pc, code)
    assert status == 403
    assert "already used" in str(again["message"])

    with central_db.sessions() as session:
        rows = session.scalars(select(EnrolmentCode)).all()
        credential = session.scalars(select(BrokerCredential)).one()
    assert [row.code_hash for row in rows] == [
        hashlib.sha256(code.replace("-", "").encode()).hexdigest()]
    assert rows[0].used_at is not None
    assert credential.username == "kiosk-7"
    assert broker["password"] not in credential.password_hash  # type: ignore[index]


def test_an_expired_or_unknown_code_is_refused_with_a_clear_message(
        technician: FlaskClient, make_client: Callable[..., FlaskClient], clock: Clock) -> None:
    code = issue(technician, ttl_hours=1)["code"]
    clock.now = T0 + dt.timedelta(hours=1, seconds=1)
    status, body = redeem(make_client(), code)
    assert status == 403
    assert "expired" in str(body["message"]) and "head office" in str(body["message"])
    status, body = redeem(make_client(), "ABCD-EFGH-JKMN-PQRS")
    assert status == 403


def test_a_new_code_replaces_the_earlier_unused_one(
        technician: FlaskClient, make_client: Callable[..., FlaskClient]) -> None:
    first = issue(technician)["code"]
    second = issue(technician)["code"]
    assert first != second
    assert redeem(make_client(), first)[0] == 403
    assert redeem(make_client(), second)[0] == 200


def test_codes_need_a_technician_and_a_live_store(
        technician: FlaskClient, make_client: Callable[..., FlaskClient]) -> None:
    pricing = make_client(PRICING)
    assert pricing.post("/api/v1/stores/kiosk-7/enrolment-codes", json={}).status_code == 403
    assert make_client().post("/api/v1/stores/kiosk-7/enrolment-codes",
                              json={}).status_code == 401
    missing = technician.post("/api/v1/stores/nowhere/enrolment-codes", json={})
    assert missing.status_code == 404
    too_long = technician.post("/api/v1/stores/kiosk-7/enrolment-codes",
                               json={"ttl_hours": 1000})
    assert too_long.status_code == 422
    assert "ttl_hours" in too_long.get_json()["errors"]
    assert technician.delete("/api/v1/stores/kiosk-7").status_code == 200
    refused = technician.post("/api/v1/stores/kiosk-7/enrolment-codes", json={})
    assert refused.status_code == 409


def test_redeem_refuses_malformed_bodies(make_client: Callable[..., FlaskClient]) -> None:
    client = make_client()
    for body in ({}, {"code": 12}):
        response = client.post("/api/v1/enrolments/", json=body)
        assert response.status_code == 422, body
        assert "code" in response.get_json()["errors"]


def test_a_mistyped_code_gets_the_promised_message(
        make_client: Callable[..., FlaskClient]) -> None:
    client = make_client()
    for code in ("", "short", "x" * 41, "x" * 5000, "7K2M-Q9XD-AAAA-BBBB-"):
        response = client.post("/api/v1/enrolments", json={"code": code})
        assert response.status_code == 403, code
        assert "unknown, already used or expired" in response.get_json()["message"]


def test_both_spellings_of_the_enrolment_path_are_public(
        technician: FlaskClient, make_client: Callable[..., FlaskClient]) -> None:
    for path in ("/api/v1/enrolments", "/api/v1/enrolments/"):
        code = issue(technician, ttl_hours=1)["code"]
        response = make_client().post(path, json={"code": code})
        assert response.status_code == 200, (path, response.get_json())
        assert response.get_json()["store"]["code"] == "kiosk-7"


def test_a_code_may_live_five_minutes(technician: FlaskClient) -> None:
    assert issue(technician, ttl_hours=5 / 60)["code"]
    short = technician.post("/api/v1/stores/kiosk-7/enrolment-codes",
                            json={"ttl_hours": 4 / 60})
    assert short.status_code == 422


@pytest.mark.parametrize("env", [
    {"TESSERA_BROKER_URL": "mqtt://broker.internal:1884", "TESSERA_BROKER_USERNAME": "central",
     "TESSERA_BROKER_PASSWORD": "x"},
    {"TESSERA_BROKER_URL": "mqtt://broker.internal:1884", "TESSERA_BROKER_USERNAME": "central",
     "TESSERA_BROKER_PASSWORD": "x", "TESSERA_BROKER_PUBLIC_URL": "mqtt://broker.internal:1884"},
], ids=["public-url-unset", "public-url-is-centrals-listener"])
def test_central_never_hands_its_private_listener_to_a_store(
        env: dict[str, str], central_db: Database, clock: Clock,
        technician: FlaskClient) -> None:
    from central import settings as settings_mod

    settings = settings_mod.load(env)
    assert settings.broker_public_url is None
    app = create_app({"DATABASE": central_db, "TESTING": True, "CLOCK": clock,
                      "SETTINGS": settings})
    code = issue(technician, ttl_hours=1)["code"]
    response = app.test_client().post("/api/v1/enrolments", json={"code": code})
    assert response.status_code == 503
    assert "TESSERA_BROKER_PUBLIC_URL" in response.get_json()["message"]
    # Nothing was spent: with the public listener configured, the same code works.
    good = settings_mod.load({**env, "TESSERA_BROKER_PUBLIC_URL": "mqtts://shops.example:8883"})
    app = create_app({"DATABASE": central_db, "TESTING": True, "CLOCK": clock,
                      "SETTINGS": good})
    redeemed = app.test_client().post("/api/v1/enrolments", json={"code": code})
    assert redeemed.status_code == 200
    assert redeemed.get_json()["broker"]["url"] == "mqtts://shops.example:8883"


def test_codes_are_unguessable_and_readable() -> None:
    codes = {enrolment._new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        groups = code.split("-")
        assert [len(g) for g in groups] == [4, 4, 4, 4]
        assert not set(code.replace("-", "")) & set("ILOU")


def test_metrics_page_reports_stores_streams_and_sales(
        technician: FlaskClient, make_client: Callable[..., FlaskClient],
        central_db: Database) -> None:
    from central.services import fleet

    with central_db.transaction() as session:  # kiosk-7 was born, holding version 0
        fleet.record_state(session, {"v": 1, "kind": "birth", "store": "kiosk-7",
                                     "online": True, "session": 5, "epoch": "e1",
                                     "streams": {}, "outbox_head": 3}, T0)
    response = make_client().get("/metrics")  # Prometheus scrapes without a token
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "# TYPE tessera_stream_head gauge" in text
    assert 'tessera_sales_ingested_total{store="kiosk-7"} 0' in text
    assert "tessera_parked_entries_total 0" in text
    assert 'tessera_store_online{store="kiosk-7"} 1' in text
    assert 'tessera_store_outbox_pending{store="kiosk-7"} 3' in text
    assert 'tessera_store_sync_lag_versions{store="kiosk-7",stream="store-config@s:kiosk-7"} 1' \
        in text
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name_and_labels, _, value = line.rpartition(" ")
            float(value)  # every sample is a number
            assert name_and_labels.startswith("tessera_")
