"""Upstream ingest at central: store batches recorded exactly once, acknowledged over MQTT."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from central.bridge.ingester import HANDLERS, Ingester
from central.db import Database
from central.models import IngestCursor, ParkedEntry, Sale
from central.services import stores, upstream
from central.settings import BrokerSettings
from protocol import messages, topics
from protocol.encoding import dumps, loads
from tests.support import Broker, wait_until
from transport.mqtt_link import MqttLink

pytestmark = pytest.mark.integration

STORE = "kiosk-1"
EPOCH_A = "a" * 32
EPOCH_B = "b" * 32


@pytest.fixture
def db(clean_pg_db: Database) -> Database:
    with clean_pg_db.transaction() as session:
        stores.create_store(session, STORE, "Kiosk")
        stores.create_store(session, "market", "Market")
    return clean_pg_db


def sale(seq: int, sale_uuid: str | None = None, store: str = STORE,
         **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": sale_uuid or str(uuid.uuid4()), "store": store, "number": seq,
        "created_at": "2026-11-22T09:30:00+00:00", "till": "T1", "cashier": "ann",
        "lines": [{"sku": "SKU-1", "barcode": "4006381333931", "name": "Bread", "qty": "2",
                   "unit_price": "1.15", "amount": "2.30", "vat_rate": "9.00"}],
        "total": "2.30",
        "vat": [{"rate": "9.00", "gross": "2.30", "net": "2.11", "vat": "0.19"}],
        "payments": [{"method": "cash", "amount": "5.00"}],
    }
    body.update(overrides)
    return body


def entry(seq: int, body: dict[str, Any] | None = None, kind: str = "sale") -> dict[str, Any]:
    body = body if body is not None else sale(seq)
    return {"seq": seq, "kind": kind, "id": str(body.get("uuid", seq)), "body": body}


def batch(*entries: dict[str, Any], epoch: str = EPOCH_A, store: str = STORE) -> dict[str, Any]:
    """A batch as the ingester hands it over: encoded, decoded and validated."""
    message = messages.envelope("batch", store=store, epoch=epoch, entries=list(entries))
    return messages.parse(loads(dumps(message)), "batch")


def ingest(db: Database, message: dict[str, Any]) -> upstream.IngestResult:
    with db.transaction() as session:
        return upstream.ingest_batch(session, message, topics.store_up(message["store"]), HANDLERS)


def recorded(db: Database) -> list[tuple[str, int, str]]:
    """(store epoch, seq, uuid) of every sale central holds."""
    with db.sessions() as session:
        return [(s.store_epoch, s.seq, s.uuid)
                for s in session.scalars(select(Sale).order_by(Sale.store_epoch, Sale.seq))]


def cursor(db: Database, epoch: str = EPOCH_A) -> int | None:
    with db.sessions() as session:
        return session.scalar(select(IngestCursor.seq).where(IngestCursor.epoch == epoch))


def parked(db: Database) -> list[tuple[str | None, int | None, str]]:
    with db.sessions() as session:
        return [(p.store_code, p.seq, p.reason)
                for p in session.scalars(select(ParkedEntry).order_by(ParkedEntry.id))]


def outcome(result: upstream.IngestResult) -> tuple[int, int, int, bool, int]:
    return result.acked, result.applied, result.duplicates, result.gap, result.parked


# -- ingest_batch -----------------------------------------------------------------------------

def test_a_batch_is_recorded_with_its_sales_and_lines(db: Database) -> None:
    entries = [entry(1), entry(2), entry(3)]
    result = ingest(db, batch(*entries))
    assert outcome(result) == (3, 3, 0, False, 0)
    assert (result.store, result.epoch) == (STORE, EPOCH_A)
    assert recorded(db) == [(EPOCH_A, e["seq"], e["body"]["uuid"]) for e in entries]
    assert cursor(db) == 3
    with db.sessions() as session:
        first = session.scalars(select(Sale).where(Sale.seq == 1)).one()
        assert first.store.code == STORE and first.number == 1
        assert first.total == Decimal("2.30")
        assert first.sold_at.isoformat() == "2026-11-22T09:30:00+00:00"
        assert [(line.sku, line.qty, line.amount) for line in first.lines] == [
            ("SKU-1", Decimal("2.000"), Decimal("2.30"))]


def test_replaying_a_batch_applies_nothing_and_acks_the_same_seq(db: Database) -> None:
    message = batch(entry(1), entry(2), entry(3))
    ingest(db, message)
    before = recorded(db)
    assert outcome(ingest(db, message)) == (3, 0, 3, False, 0)
    assert outcome(ingest(db, message)) == (3, 0, 3, False, 0)
    assert recorded(db) == before


def test_an_overlapping_batch_applies_only_the_new_entries(db: Database) -> None:
    first = [entry(1), entry(2), entry(3)]
    ingest(db, batch(*first))
    later = [entry(4), entry(5)]
    assert outcome(ingest(db, batch(first[1], first[2], *later))) == (5, 2, 2, False, 0)
    assert [seq for _epoch, seq, _uuid in recorded(db)] == [1, 2, 3, 4, 5]


def test_entries_beyond_a_gap_wait_for_the_resend(db: Database) -> None:
    ingest(db, batch(entry(1), entry(2)))
    missing, beyond = entry(3), [entry(4), entry(5)]
    assert outcome(ingest(db, batch(*beyond))) == (2, 0, 0, True, 0)
    assert cursor(db) == 2
    assert [seq for _epoch, seq, _uuid in recorded(db)] == [1, 2]

    assert outcome(ingest(db, batch(missing, *beyond))) == (5, 3, 0, False, 0)
    assert [seq for _epoch, seq, _uuid in recorded(db)] == [1, 2, 3, 4, 5]


def test_a_first_batch_that_does_not_start_at_one_is_a_gap(db: Database) -> None:
    assert outcome(ingest(db, batch(entry(2), entry(3)))) == (0, 0, 0, True, 0)
    assert recorded(db) == [] and cursor(db) == 0


BAD_ENTRIES = {
    "sale without total": (entry(2, {k: v for k, v in sale(2).items() if k != "total"}),
                           "total"),
    "naive sale time": (entry(2, sale(2, created_at="2026-11-22T09:30:00")), "created_at"),
    "sale without lines": (entry(2, sale(2, lines=[])), "lines"),
    "sale of another store": (entry(2, sale(2, store="market")), "market"),
    "unknown entry kind": (entry(2, {"visitors": 12}, kind="footfall"), "footfall"),
    "sku too long for central": (entry(2, sale(2, lines=[{
        **sale(2)["lines"][0], "sku": "S" * 65}])), "sku longer than 64"),
    "total too large for central": (entry(2, sale(2, total="1000000000000.00")), "total"),
}


@pytest.mark.parametrize("bad, reason", BAD_ENTRIES.values(), ids=BAD_ENTRIES.keys())
def test_a_malformed_entry_is_parked_and_the_cursor_moves_past_it(
        db: Database, bad: dict[str, Any], reason: str) -> None:
    good = [entry(1), entry(3)]
    result = ingest(db, batch(good[0], bad, good[1]))
    assert outcome(result) == (3, 2, 0, False, 1)
    assert [seq for _epoch, seq, _uuid in recorded(db)] == [1, 3]
    (store, seq, why), = parked(db)
    assert (store, seq) == (STORE, 2) and reason in why
    # The store resending the batch changes nothing: the bad entry is parked once.
    assert outcome(ingest(db, batch(good[0], bad, good[1]))) == (3, 0, 3, False, 0)
    assert len(parked(db)) == 1


def test_a_sale_known_from_another_epoch_is_not_recorded_twice(db: Database) -> None:
    # A store restored from a backup starts a new epoch and may send a sale again.
    known = entry(1)
    ingest(db, batch(known, entry(2)))
    again = {**known, "seq": 1}
    fresh = entry(2)
    assert outcome(ingest(db, batch(again, fresh, epoch=EPOCH_B))) == (2, 1, 1, False, 0)
    assert cursor(db, EPOCH_B) == 2 and cursor(db, EPOCH_A) == 2
    uuids = [u for _epoch, _seq, u in recorded(db)]
    assert len(uuids) == len(set(uuids)) == 3
    assert (EPOCH_B, 2, fresh["body"]["uuid"]) in recorded(db)


def test_a_sale_sent_twice_in_one_batch_is_recorded_once(db: Database) -> None:
    first = entry(1)
    again = {**entry(2, first["body"]), "id": first["id"]}
    assert outcome(ingest(db, batch(first, again))) == (2, 1, 1, False, 0)
    assert recorded(db) == [(EPOCH_A, 1, first["body"]["uuid"])]


def test_epochs_of_a_store_have_their_own_cursors(db: Database) -> None:
    ingest(db, batch(entry(1), entry(2), entry(3)))
    assert outcome(ingest(db, batch(entry(1), epoch=EPOCH_B))) == (1, 1, 0, False, 0)
    assert (cursor(db, EPOCH_A), cursor(db, EPOCH_B)) == (3, 1)


def test_a_batch_of_an_unknown_store_is_refused(db: Database) -> None:
    with pytest.raises(upstream.UnknownStore):
        ingest(db, batch(entry(1, sale(1, store="ghost")), store="ghost"))
    assert recorded(db) == []


# -- the ingester on a real broker ------------------------------------------------------------

def broker_settings(broker: Broker) -> BrokerSettings:
    return BrokerSettings(host="127.0.0.1", port=broker.port, username=None, password=None,
                          tls=False, keepalive=30)


@pytest.fixture
def ingester(db: Database, broker: Broker) -> Iterator[Ingester]:
    link = MqttLink(broker_settings(broker), "test-ingester", manual_ack=True)
    subscribed = threading.Event()
    link.client.on_subscribe = lambda *_args: subscribed.set()
    worker = Ingester(db, link)
    link.start()
    thread = threading.Thread(target=worker.run, name="ingester")
    thread.start()
    try:
        assert subscribed.wait(10), "the ingester never subscribed"
        yield worker
    finally:
        worker.stop()
        thread.join(10)
        link.stop()


def paho_client(broker: Broker, client_id: str,
                on_message: Any = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    if on_message is not None:
        client.on_message = on_message
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def test_a_batch_sent_by_a_store_is_recorded_and_acknowledged(
        db: Database, broker: Broker, ingester: Ingester) -> None:
    store = paho_client(broker, STORE)
    entries = [entry(1), entry(2)]
    try:
        store.publish(topics.store_up(STORE), dumps(messages.envelope(
            "batch", store=STORE, epoch=EPOCH_A, entries=entries)), qos=1).wait_for_publish(5)
        wait_until(lambda: len(recorded(db)) == 2, 10, what="the sales at central")
    finally:
        close(store)
    assert recorded(db) == [(EPOCH_A, 1, entries[0]["body"]["uuid"]),
                            (EPOCH_A, 2, entries[1]["body"]["uuid"])]

    # A store that connects afterwards (a restarted agent) finds the ack retained.
    acks: list[mqtt.MQTTMessage] = []
    late = paho_client(broker, f"{STORE}-late", on_message=lambda _c, _u, m: acks.append(m))
    try:
        late.subscribe(topics.store_up_ack(STORE), qos=1)
        wait_until(lambda: acks, 10, what="the retained ack")
    finally:
        close(late)
    assert acks[0].retain
    ack = messages.parse(loads(acks[0].payload), "ack")
    assert (ack["store"], ack["epoch"], ack["seq"]) == (STORE, EPOCH_A, 2)


def test_unreadable_upstream_messages_are_parked_not_lost(
        db: Database, broker: Broker, ingester: Ingester) -> None:
    store = paho_client(broker, STORE)
    try:
        store.publish(topics.store_up(STORE), b"{not json", qos=1).wait_for_publish(5)
        store.publish(topics.store_up("ghost"), dumps(messages.envelope(
            "batch", store="ghost", epoch=EPOCH_A, entries=[entry(1)])), qos=1
        ).wait_for_publish(5)
        wait_until(lambda: len(parked(db)) == 2, 10, what="two parked messages")
    finally:
        close(store)
    (first_store, _, first_reason), (second_store, _, second_reason) = parked(db)
    assert (first_store, second_store) == (STORE, "ghost")
    assert "not JSON" in first_reason and "unknown store" in second_reason
    assert recorded(db) == []
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(IngestCursor)) == 0


# -- fiscal receipts --------------------------------------------------------------------------

def fiscal(seq: int, sale_uuid: str, document: int = 41) -> dict[str, Any]:
    body = {"sale": sale_uuid, "document_number": document, "receipt_number": document - 1,
            "device": "DT000600", "fiscalised_at": "2026-11-22T09:30:02+00:00"}
    return {"seq": seq, "kind": "fiscal", "id": f"fiscal:{sale_uuid}", "body": body}


def test_a_fiscal_entry_notes_the_receipt_on_its_sale(db: Database) -> None:
    first, second = sale(1), sale(3)
    result = ingest(db, batch(entry(1, first), fiscal(2, first["uuid"]), entry(3, second)))
    assert outcome(result) == (3, 2, 0, False, 0)
    ingest(db, batch(fiscal(4, second["uuid"], document=42)))
    # The same report again (a resend under a new epoch) changes nothing.
    ingest(db, batch(fiscal(1, second["uuid"], document=42), epoch=EPOCH_B))
    with db.sessions() as session:
        got = {s.uuid: (s.fiscal_document, s.fiscal_receipt, s.fiscal_device)
               for s in session.scalars(select(Sale))}
    assert got == {first["uuid"]: (41, 40, "DT000600"), second["uuid"]: (42, 41, "DT000600")}


def test_a_fiscal_entry_of_an_unknown_sale_or_unreadable_is_parked(db: Database) -> None:
    result = ingest(db, batch(fiscal(1, str(uuid.uuid4())),
                              {"seq": 2, "kind": "fiscal", "id": "fiscal:x",
                               "body": {"sale": "not-a-uuid"}}))
    assert result.acked == 2 and result.parked == 2
    reasons = [reason for _store, _seq, reason in parked(db)]
    assert any("does not hold" in r for r in reasons)
    assert any("invalid fiscal entry" in r for r in reasons)
