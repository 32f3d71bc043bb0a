"""Property-based fuzzing of central's MQTT side (issue 10): what a store with valid broker
credentials could send on its own topics.

A real Mosquitto and central's real bridge objects (ingester, responder, publisher) on the
session's PostgreSQL, each on its own link as ``tessera central ingest`` and ``publish``
build them. Each example publishes random and mutated batches, births, deaths, catch-up and
rpc requests on ``stores/kiosk-1/{up,state,rpc}``, then what the real store would send next
(a sale in a batch, its catch-up request with its real outbox, a clock request), and checks:

- central stays up: the real sale is recorded, the catch-up request taken, the request
  answered;
- whatever on the up topic central cannot read is parked with a reason, one row each
  (never silently dropped);
- the fleet view and the metrics stay bounded by what central saw: cursors no further than
  the seqs it was sent, applied versions no higher than its own heads, and the backlog of
  the store right after its real report equal to what it really holds.

Derandomized and bounded (``max_examples``); a failure prints the messages of the falsifying
example (hypothesis' reproduction) and ``@reproduce_failure`` when asked for.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from central import metrics
from central.bridge import publisher as publisher_mod
from central.bridge.ingester import Ingester
from central.bridge.responder import Responder
from central.db import Database
from central.migrate import log_epoch
from central.models import IngestCursor, ParkedEntry, Sale, StoreStatus
from central.services import changelog, fleet, stores
from central.settings import BrokerSettings
from protocol import messages, topics
from protocol.encoding import WireError, dumps, loads
from protocol.streams import Scope
from tests.support import Broker, wait_until
from transport.mqtt_link import MqttLink

pytestmark = pytest.mark.integration

STORE = "kiosk-1"
FUZZ = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
HUGE = st.sampled_from([-1, 0, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30])


# -- what a store could send ----------------------------------------------------------------

def json_values() -> st.SearchStrategy[Any]:
    scalars = (st.none() | st.booleans() | st.integers() | HUGE
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=80))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                        max_leaves=12)


INTS = st.integers(min_value=-3, max_value=12) | HUGE
TEXTS = st.sampled_from(["e1", "e2", "", "a\x00b", "\x1b[2J", "x" * 65, "x" * 300,
                         "kiosk-1", "market"]) | st.text(max_size=70)


def sale_body(number: int) -> dict[str, Any]:
    return {"uuid": str(uuid.uuid4()), "store": STORE, "number": number,
            "created_at": "2026-11-22T09:30:00+00:00", "till": "T1", "cashier": "ann",
            "lines": [{"sku": "SKU-1", "barcode": "4006381333931", "name": "Bread",
                       "qty": "2", "unit_price": "1.15", "amount": "2.30",
                       "vat_rate": "9.00"}],
            "total": "2.30", "vat": [{"rate": "9.00", "gross": "2.30", "net": "2.11",
                                      "vat": "0.19"}],
            "payments": [{"method": "cash", "amount": "5.00"}]}


@st.composite
def entries(draw: st.DrawFn) -> list[dict[str, Any]]:
    first = draw(st.integers(min_value=1, max_value=6) | HUGE)
    result = []
    for i in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["sale", "sale", "fiscal", "customer", ""]))
        if kind == "sale":
            body = draw(st.builds(lambda: sale_body(1)) | mutated_sale() | st.dictionaries(
                st.text(max_size=8), json_values(), max_size=3))
        else:
            body = draw(st.dictionaries(st.sampled_from(
                ["sale", "document_number", "fiscalised_at", "x"]), json_values(), max_size=4))
        entry_id = body.get("uuid") if isinstance(body.get("uuid"), str) else draw(TEXTS)
        result.append({"seq": first + i if isinstance(first, int) else first, "kind": kind,
                       "id": entry_id, "body": body})
    return result


def mutate(draw: st.DrawFn, message: dict[str, Any]) -> Any:
    """The message as it is, or with one field dropped or replaced by anything."""
    how = draw(st.sampled_from(["keep", "keep", "drop", "replace", "anything"]))
    if how == "anything":
        return draw(json_values())
    if how != "keep" and message:
        key = draw(st.sampled_from(sorted(message)))
        message = dict(message)
        if how == "drop":
            del message[key]
        else:
            message[key] = draw(json_values())
    return message


AMOUNTS = st.sampled_from(["1e30", "-1e30", "1.005", "99999999999999.99", "NaN", "0"])


@st.composite
def mutated_sale(draw: st.DrawFn) -> dict[str, Any]:
    """A sale with one of its own or its line's fields given a value off the edges."""
    body = sale_body(1)
    line = body["lines"][0]
    target = draw(st.sampled_from([body, line]))
    key = draw(st.sampled_from(sorted(target)))
    target[key] = draw(AMOUNTS | TEXTS | json_values())
    return body


@st.composite
def batch(draw: st.DrawFn) -> dict[str, Any]:
    return messages.envelope(
        "batch", store=draw(st.sampled_from([STORE, STORE, "market", "ghost"])),
        epoch=draw(st.sampled_from(["e1", "e2"]) | TEXTS), entries=draw(entries()),
        head=draw(INTS | st.none()), prev=draw(st.none() | TEXTS))


@st.composite
def state(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["birth", "death"]))
    return messages.envelope(
        kind, store=STORE, online=kind == "birth", session=draw(INTS),
        agent_version=draw(TEXTS), epoch=draw(st.sampled_from(["e1", "e2"]) | TEXTS),
        log_epoch=draw(TEXTS), streams=draw(st.dictionaries(
            st.sampled_from(["catalog", "prices", "nonsense", "x" * 300]), INTS, max_size=3)),
        outbox_head=draw(INTS), outbox_pending=draw(INTS))


@st.composite
def catch_up(draw: st.DrawFn) -> dict[str, Any]:
    return messages.envelope(
        "catch_up", store=STORE, log_epoch=draw(TEXTS), streams=draw(st.dictionaries(
            st.sampled_from(["catalog", "prices", "store-config@s:kiosk-1"]), INTS,
            max_size=3)),
        checksums=draw(st.dictionaries(st.sampled_from(["catalog"]), TEXTS, max_size=1)),
        epoch=draw(st.sampled_from(["e1", "e2"]) | TEXTS), outbox_head=draw(INTS),
        outbox_pending=draw(INTS))


@st.composite
def request(draw: st.DrawFn) -> dict[str, Any]:
    return messages.envelope(
        "request", store=draw(st.sampled_from([STORE, "market"])), id=draw(TEXTS),
        request=draw(st.sampled_from(["clock", "gift_hold", ""]) | TEXTS),
        ttl_ms=draw(INTS | st.just(60_000)), body=draw(json_values()))


@st.composite
def publication(draw: st.DrawFn) -> tuple[str, bytes]:
    """One message on one of the store's own topics."""
    where, make = draw(st.sampled_from([("up", batch), ("state", state), ("rpc", catch_up),
                                        ("rpc", request)]))
    topic = {"up": topics.store_up, "state": topics.store_state,
             "rpc": topics.store_rpc}[where](STORE)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        return topic, draw(st.binary(max_size=60) | st.sampled_from(
            [b"", b"{", b"[" * 2000, b'{"v": 1e999}', b"\xff\xfe"]))
    return topic, dumps(mutate(draw, draw(make())))


# -- central on a real broker -----------------------------------------------------------------

@dataclass
class Central:
    db: Database
    ingester: Ingester
    responder: Responder
    log_epoch: str


def _link(broker: Broker, client_id: str, **kwargs: Any) -> MqttLink:
    return MqttLink(BrokerSettings(host="127.0.0.1", port=broker.port, username=None,
                                   password=None, tls=False, keepalive=30),
                    client_id, **kwargs)


@pytest.fixture
def central(clean_pg_db: Database, broker: Broker) -> Iterator[Central]:
    db = clean_pg_db
    with db.transaction() as session:
        stores.create_store(session, STORE, "Kiosk")
        stores.create_store(session, "market", "Market")
        changelog.record(session, "catalog", Scope("all"), "category", "food", "upsert",
                         {"code": "food", "name": "Food", "parent": None})
    epoch = log_epoch(db)
    ingest_link = _link(broker, "fuzz-central-ingest", manual_ack=True)
    ingester, responder = Ingester(db, ingest_link), Responder(db, ingest_link)
    publish_link = publisher_mod.build_link(
        BrokerSettings(host="127.0.0.1", port=broker.port, username=None, password=None,
                       tls=False, keepalive=30), "fuzz-central-publisher")
    publisher = publisher_mod.Publisher(db, publish_link, epoch)
    workers = [ingester, responder, publisher]
    threads = [threading.Thread(target=w.run, name=type(w).__name__) for w in workers]
    ingest_link.start()
    publish_link.start()
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: ingest_link.connected and publish_link.connected, 10,
                   what="central's links")
        yield Central(db, ingester, responder, epoch)
    finally:
        for worker in workers:
            worker.stop()
        for thread in threads:
            thread.join(10)
        ingest_link.stop()
        publish_link.stop()


class Store:
    """The store's connection (its own broker login), collecting central's replies."""

    def __init__(self, broker: Broker) -> None:
        self.replies: list[dict[str, Any]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fuzz-store",
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        result, mid = self.client.subscribe(topics.store_rpc_reply(STORE), qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS, mid

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self.replies.append(loads(message.payload))
        except WireError:
            self.replies.append({"unreadable": message.payload})

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def unreadable_batch(payload: bytes) -> bool:
    """Whether central cannot read this up-topic message as a batch of the store (it must
    park it whole)."""
    try:
        parsed = messages.parse(loads(payload), "batch")
    except WireError:
        return True
    return bool(parsed["store"] != STORE)


def sent_seqs(payloads: list[bytes]) -> dict[str, int]:
    """Per epoch, the highest seq of any batch central could read."""
    highest: dict[str, int] = {}
    for payload in payloads:
        if unreadable_batch(payload):
            continue
        parsed = messages.parse(loads(payload), "batch")
        last = parsed["entries"][-1]["seq"]
        highest[parsed["epoch"]] = max(highest.get(parsed["epoch"], 0), last)
    return highest


class Errors(logging.Handler):
    """Central's logged errors (a worker's step that failed: the message it was on is lost
    for good unless a store resends it)."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(self.format(record))


def test_central_holds_under_mqtt_fuzzing(central: Central, broker: Broker) -> None:
    errors: list[str] = []
    handler = Errors(errors)
    logging.getLogger("central").addHandler(handler)
    store = Store(broker)
    db = central.db
    seen: dict[str, int] = {}  # per epoch, the highest seq sent in a readable batch
    rounds = iter(range(1, 10_000))
    try:
        @FUZZ
        @given(published=st.lists(publication(), min_size=1, max_size=8))
        def run(published: list[tuple[str, bytes]]) -> None:
            n = next(rounds)
            errors.clear()
            with db.sessions() as session:
                parked_before = session.scalar(select(func.max(ParkedEntry.id))) or 0
            up = [payload for topic, payload in published if topic.endswith("/up")]
            for topic, payload in published:
                store.publish(topic, payload)
            for epoch, seq in sent_seqs(up).items():
                seen[epoch] = max(seen.get(epoch, 0), seq)

            # What the real store sends next: its birth (a new connection), a sale in its
            # own epoch, its catch-up request with its real outbox (one entry, about to be
            # acknowledged), a clock request.
            real_epoch, sale, real_session = f"real-{n}", sale_body(n), 1_800_000_000_000 + n
            store.publish(topics.store_state(STORE), dumps(messages.envelope(
                "birth", store=STORE, online=True, session=real_session, epoch=real_epoch,
                log_epoch=central.log_epoch, streams={"catalog": 1}, outbox_head=1,
                outbox_pending=1)))
            store.publish(topics.store_up(STORE), dumps(messages.envelope(
                "batch", store=STORE, epoch=real_epoch, head=1,
                entries=[{"seq": 1, "kind": "sale", "id": sale["uuid"], "body": sale}])))
            store.publish(topics.store_rpc(STORE), dumps(messages.envelope(
                "catch_up", store=STORE, log_epoch=central.log_epoch, streams={"catalog": 1},
                epoch=real_epoch, outbox_head=1, outbox_pending=0)))
            request_id = f"probe-{n}"
            store.publish(topics.store_rpc(STORE), dumps(messages.envelope(
                "request", store=STORE, id=request_id, request="clock", ttl_ms=60_000,
                body={})))

            def settled() -> bool:
                with db.sessions() as session:
                    status = session.scalar(select(StoreStatus))
                    recorded = session.scalar(select(func.count()).select_from(Sale)
                                              .where(Sale.uuid == sale["uuid"]))
                return bool(recorded and status is not None and status.epoch == real_epoch
                            and status.session == real_session and status.online
                            and any(r.get("id") == request_id for r in store.replies))
            wait_until(settled, 20, what="central to take the real store's sale, catch-up "
                                         "and request after the fuzzed messages")

            assert not errors, "central logged errors:\n" + "\n".join(errors)
            now = dt.datetime.now(dt.UTC)
            with db.sessions() as session:
                parked = session.scalars(select(ParkedEntry).where(
                    ParkedEntry.id > parked_before)).all()
                cursors = session.execute(select(IngestCursor.epoch, IngestCursor.seq)).all()
                heads = changelog.heads(session)
                (row,) = [r for r in fleet.fleet(session, now=now)[0] if r.code == STORE]
                text = metrics.render(session, now)
            whole = [p for p in parked if p.seq is None]
            assert len(whole) == sum(unreadable_batch(p) for p in up), (
                "every unreadable up message parked once", [p.reason for p in whole])
            assert all(p.reason and p.store_code == STORE for p in parked)
            for epoch, seq in cursors:
                assert seq <= seen.get(epoch, 1 if epoch.startswith("real-") else 0), (
                    f"cursor of epoch {epoch!r} at {seq}, beyond any seq sent")
            assert (row.epoch, row.outbox_head, row.acked_seq, row.backlog) == (
                real_epoch, 1, 1, 0)
            for lag in row.streams:
                assert 0 <= lag.applied <= heads[lag.stream] and lag.lag >= 0
            pending = [ln for ln in text.splitlines()
                       if ln.startswith(f'tessera_store_outbox_pending{{store="{STORE}"}}')]
            assert pending == [f'tessera_store_outbox_pending{{store="{STORE}"}} 0']

        run()
    finally:
        store.close()
        logging.getLogger("central").removeHandler(handler)
