"""Requests to central over MQTT (real Mosquitto, real PostgreSQL): answered within the
deadline when central is up, "central unreachable" within it when the broker or central is
down (the broker stopped mid-request included), a repeated request id answered once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.bridge.responder import HANDLERS, Responder
from central.db import Database
from central.models import Store, StoreRequest
from central.services import store_requests, stores
from central.settings import BrokerSettings
from protocol import PROTOCOL_VERSION
from protocol.encoding import WireError
from tests.support import Broker, wait_until
from transport.mqtt_link import MqttLink
from transport.rpc import CentralUnreachable, Requester, RequestRefused

pytestmark = pytest.mark.integration

STORE = "kiosk-1"


def settings(broker: Broker) -> BrokerSettings:
    return BrokerSettings(host="127.0.0.1", port=broker.port, username=None, password=None,
                          tls=False, keepalive=30)


@pytest.fixture
def db(clean_pg_db: Database) -> Database:
    with clean_pg_db.transaction() as session:
        stores.create_store(session, STORE, "Kiosk")
    return clean_pg_db


class Central:
    """A responder on its own link and thread, as in `tessera central ingest`."""

    def __init__(self, db: Database, broker: Broker,
                 handlers: store_requests.Registry = HANDLERS) -> None:
        self.link = MqttLink(settings(broker), "test-central-ingest", manual_ack=True)
        subscribed = threading.Event()
        self.link.client.on_subscribe = lambda *_args: subscribed.set()
        self.responder = Responder(db, self.link, handlers)
        self.link.start()
        self.thread = threading.Thread(target=self.responder.run, name="responder")
        self.thread.start()
        assert subscribed.wait(10), "the responder never subscribed"

    def stop(self) -> None:
        self.responder.stop()
        self.thread.join(10)
        self.link.stop()


@pytest.fixture
def store_link(broker: Broker) -> Iterator[tuple[MqttLink, Requester]]:
    link = MqttLink(settings(broker), f"{STORE}-agent")
    requester = Requester(link, STORE)
    link.start()
    assert link.wait_connected(10)
    try:
        yield link, requester
    finally:
        link.stop()


class CountingClock:
    """The real clock handler, counting its runs; ``hold`` keeps it from answering."""

    kind = "clock"

    def __init__(self) -> None:
        self.runs = 0
        self.entered = threading.Event()
        self.hold: threading.Event | None = None

    def answer(self, session: Session, store: Store, body: dict[str, Any],
               now: dt.datetime) -> dict[str, Any]:
        self.runs += 1
        self.entered.set()
        if self.hold is not None:
            self.hold.wait(30)
        return store_requests.ClockHandler().answer(session, store, body, now)


def replies(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(StoreRequest)) or 0)


def test_central_answers_its_clock_and_version_within_the_deadline(
        db: Database, broker: Broker, store_link: tuple[MqttLink, Requester]) -> None:
    central = Central(db, broker)
    try:
        before = dt.datetime.now(dt.UTC)
        answer = store_link[1].call("clock", timeout=10)
        assert before <= answer["time"] <= dt.datetime.now(dt.UTC)
        assert answer["version"] == store_requests.central_version() != ""
        assert answer["protocol"] == PROTOCOL_VERSION
    finally:
        central.stop()


def test_a_repeated_request_id_is_answered_once_with_the_first_answer(
        db: Database, broker: Broker, store_link: tuple[MqttLink, Requester]) -> None:
    clock = CountingClock()
    central = Central(db, broker, store_requests.Registry([clock]))
    try:
        first = store_link[1].call("clock", timeout=10, request_id="doctor-1")
        again = store_link[1].call("clock", timeout=10, request_id="doctor-1")
        other = store_link[1].call("clock", timeout=10, request_id="doctor-2")
    finally:
        central.stop()
    assert again == first  # the same answer, central's time of the first run included
    assert other["time"] >= first["time"]
    assert clock.runs == 2 and replies(db) == 2


def test_central_down_is_unreachable_within_the_deadline(
        db: Database, store_link: tuple[MqttLink, Requester]) -> None:
    # The broker is up, nobody answers (no ingest worker runs).
    with pytest.raises(CentralUnreachable, match="no answer from central within 0.5 s"):
        store_link[1].call("clock", timeout=0.5)


def test_central_known_offline_is_unreachable_at_once(broker: Broker) -> None:
    link = MqttLink(settings(broker), f"{STORE}-agent")
    requester = Requester(link, STORE, central_online=lambda: False)
    link.start()
    try:
        assert link.wait_connected(10)
        with pytest.raises(CentralUnreachable, match="central is offline"):
            requester.call("clock", timeout=30)
    finally:
        link.stop()


def test_the_broker_down_is_unreachable(broker: Broker,
                                        store_link: tuple[MqttLink, Requester]) -> None:
    link, requester = store_link
    broker.stop()
    wait_until(lambda: not link.connected, 10, what="the link to notice")
    with pytest.raises(CentralUnreachable, match="not connected to the broker"):
        requester.call("clock", timeout=30)


def test_the_broker_stopped_mid_request_is_unreachable_within_the_deadline(
        db: Database, broker: Broker, store_link: tuple[MqttLink, Requester]) -> None:
    clock = CountingClock()
    clock.hold = threading.Event()
    central = Central(db, broker, store_requests.Registry([clock]))
    outcome: list[BaseException | dict[str, Any]] = []

    def ask() -> None:
        try:
            outcome.append(store_link[1].call("clock", timeout=20, request_id="mid-1"))
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        assert clock.entered.wait(10), "central never got the request"
        broker.kill()  # while central works on it: its reply cannot arrive
        asker.join(25)
        assert not asker.is_alive()
    finally:
        clock.hold.set()
        central.stop()
    (result,) = outcome
    assert isinstance(result, CentralUnreachable), result
    assert "connection to the broker was lost" in str(result)
    # Central finished and kept its answer: asked again under the same id once the broker
    # is back, the store gets it without the handler running again.
    broker.start()
    wait_until(lambda: replies(db) == 1, 10, what="central's stored reply")
    central = Central(db, broker, store_requests.Registry([clock]))
    try:
        assert store_link[0].wait_connected(60), "the store link never came back"
        again = store_link[1].call("clock", timeout=10, request_id="mid-1")
    finally:
        central.stop()
    assert clock.runs == 1 and isinstance(again["time"], dt.datetime)


def test_a_kind_central_has_no_handler_for_is_refused_with_the_reason(
        db: Database, broker: Broker, store_link: tuple[MqttLink, Requester]) -> None:
    central = Central(db, broker, store_requests.Registry([]))
    try:
        with pytest.raises(RequestRefused, match="no handler for request kind 'clock'") as info:
            store_link[1].call("clock", timeout=10)
    finally:
        central.stop()
    assert info.value.code == "unknown_request"


def test_a_request_of_an_unknown_store_is_refused(
        db: Database, broker: Broker) -> None:
    central = Central(db, broker)
    link = MqttLink(settings(broker), "ghost-agent")
    requester = Requester(link, "ghost")
    link.start()
    try:
        assert link.wait_connected(10)
        with pytest.raises(RequestRefused, match="no store 'ghost'"):
            requester.call("clock", timeout=10)
    finally:
        link.stop()
        central.stop()


def test_a_store_finds_a_customer_it_does_not_hold_at_central(
        db: Database, broker: Broker, store_link: tuple[MqttLink, Requester]) -> None:
    from central.services import customers

    with db.transaction() as session:
        made = customers.create(session, {"first_name": "Ana", "mobile": "+393471112233",
                                          "cards": [{"number": "2990000000019"}]})
        made_id = made.id
    central = Central(db, broker)
    try:
        by_card = store_link[1].call("find_customer", {"card": "2990000000019"}, timeout=10)
        by_phone = store_link[1].call("find_customer", {"mobile": "347 111 2233"}, timeout=10)
        nobody = store_link[1].call("find_customer", {"email": "x@example.com"}, timeout=10)
        with pytest.raises(WireError, match="exactly one"):  # refused before it is sent
            store_link[1].call("find_customer", {"card": "1", "email": "x@example.com"},
                               timeout=10)
    finally:
        central.stop()
    assert by_card["found"] and by_card["customer"]["id"] == made_id
    assert [c["number"] for c in by_card["cards"]] == ["2990000000019"]
    assert by_phone["customer"]["id"] == made_id  # read with the store's country
    assert nobody == {"found": False, "customer": None, "cards": []}
