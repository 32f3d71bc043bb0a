"""A store restored from a backup: no sale lost, none counted twice (epochs).

The store's real uplink and SQLite outbox talk to central's real ingest on PostgreSQL
through a link that hands each batch to ``ingest_batch`` and keeps the acknowledgement
retained, as the broker does. Central acknowledged more of the epoch than the restored
database holds; the store then sells again and reuses seqs central already has.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from central.bridge.ingester import HANDLERS, ack_message
from central.db import Database
from central.models import Sale
from central.services import stores, upstream
from protocol import messages, topics
from protocol.encoding import loads
from store_agent.sqlite_store import LocalStore
from store_agent.sync import outbox
from store_agent.sync.uplink import Uplink
from tests.integration.test_ingest import sale
from transport.mqtt_link import Inbound

pytestmark = pytest.mark.integration

STORE = "kiosk-1"
SOLD_AT = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def db(clean_pg_db: Database) -> Database:
    with clean_pg_db.transaction() as session:
        stores.create_store(session, STORE, "Kiosk")
    return clean_pg_db


class CentralLink:
    """The broker plus central's ingest worker, in one object, for one store."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.connected = True
        self.handler: Callable[[Inbound], None] | None = None
        self.retained: bytes | None = None
        self.pending: list[bytes] = []
        self.conflicts = 0
        self.held: list[bytes] | None = None  # a list: batches wait for ingest_held()

    def subscribe(self, topic: str, handler: Callable[[Inbound], None]) -> None:
        assert topic == topics.store_up_ack(STORE)
        self.handler = handler

    def publish_and_wait(self, topic: str, payload: bytes) -> bool:
        if self.held is not None:
            self.held.append(payload)
            return True
        return self.ingest(topic, payload)

    def ingest_held(self, order: Callable[[list[bytes]], list[bytes]]) -> None:
        """Ingest the held batches in ``order`` (two workers may take them in any order)."""
        assert self.held is not None
        held, self.held = self.held, None
        for payload in order(held):
            self.ingest(topics.store_up(STORE), payload)

    def ingest(self, topic: str, payload: bytes) -> bool:
        batch = messages.parse(loads(payload), "batch")
        with self.db.transaction() as session:
            result = upstream.ingest_batch(session, batch, topic, HANDLERS)
        self.conflicts += result.conflict
        self.retained = ack_message(result.store, result.epoch, result.acked, result.last_id)
        self.pending.append(self.retained)
        return True

    def deliver(self, payload: bytes | None = None) -> None:
        """Deliver the queued acks (or ``payload``, e.g. the retained one on subscribe)."""
        assert self.handler is not None
        for body in [payload] if payload is not None else self.pending:
            self.handler(Inbound(topic=topics.store_up_ack(STORE), payload=body, retain=True,
                                 mid=1, qos=1, link=None))  # type: ignore[arg-type]
        if payload is None:
            self.pending.clear()


class Shop:
    """A store database, its uplink, and every sale its till ever recorded."""

    def __init__(self, path: Path, db: Database, sold: list[str]) -> None:
        self.path = path
        self.store = LocalStore(path)
        self.link = CentralLink(db)
        self.epochs: list[str] = []
        self.uplink = Uplink(self.store, self.link, STORE,  # type: ignore[arg-type]
                             batch_size=3, window=20,  # several batches in flight
                             on_new_epoch=self.epochs.append)
        self.sold = sold

    def sell(self, count: int) -> None:
        with self.store.write() as conn:
            for _ in range(count):
                sale_uuid = str(uuid.uuid4())
                number = len(self.sold) + 1
                outbox.append(conn, "sale", sale_uuid, sale(number, sale_uuid), SOLD_AT)
                self.sold.append(sale_uuid)

    def sync(self) -> None:
        """Send and acknowledge until the outbox is empty."""
        for _ in range(50):
            self.uplink.step()
            self.link.deliver()
            if self.uplink.pending() == 0:
                return
            self.uplink.reset()  # what the stall timeout does
        raise AssertionError(f"outbox never drained: {self.uplink.pending()} entries left")

    def backup(self, to: Path) -> None:
        with sqlite3.connect(to) as target:
            self.store.connection().backup(target)
        target.close()


def at_central(db: Database) -> list[str]:
    with db.sessions() as session:
        return list(session.scalars(select(Sale.uuid)))


def restored(shop: Shop, backup: Path, db: Database, at: Path) -> Shop:
    """The shop PC rebuilt from ``backup``; the broker still holds central's last ack."""
    retained = shop.link.retained
    shop.store.close()
    at.write_bytes(backup.read_bytes())
    again = Shop(at, db, shop.sold)
    again.link.retained = retained
    return again


def assert_each_sale_once(db: Database, sold: list[str]) -> None:
    held = at_central(db)
    assert len(held) == len(set(held)), "a sale was counted twice"
    assert sorted(held) == sorted(sold), "central does not hold exactly the sales made"


@pytest.fixture
def history(db: Database, tmp_path: Path) -> tuple[Shop, Path]:
    """Five sales all at central; the backup was taken after three, two acknowledged."""
    shop = Shop(tmp_path / "agent.db", db, [])
    shop.sell(2)
    shop.sync()
    shop.sell(1)
    backup = tmp_path / "backup.db"
    shop.backup(backup)
    shop.sell(2)
    shop.sync()
    assert len(at_central(db)) == 5
    return shop, backup


def test_restored_without_new_sales_the_store_moves_to_a_new_epoch(
        db: Database, tmp_path: Path, history: tuple[Shop, Path]) -> None:
    shop, backup = history
    old_epoch = shop.uplink.epoch
    shop = restored(shop, backup, db, tmp_path / "restored.db")
    assert shop.uplink.epoch == old_epoch and shop.uplink.head() == 3
    assert shop.link.retained is not None
    shop.link.deliver(shop.link.retained)  # ack 5 > our head 3
    assert len(shop.epochs) == 1 and shop.uplink.epoch != old_epoch
    shop.sell(2)
    shop.sync()
    assert_each_sale_once(db, shop.sold)
    assert len(shop.sold) == 7


def test_restored_store_that_sold_offline_learns_it_from_the_retained_ack(
        db: Database, tmp_path: Path, history: tuple[Shop, Path]) -> None:
    shop, backup = history
    shop = restored(shop, backup, db, tmp_path / "restored.db")
    shop.sell(4)  # seqs 4..7 here; central holds 4 and 5 for other sales
    assert shop.link.retained is not None
    shop.link.deliver(shop.link.retained)  # seq 5 is another sale than ours
    assert len(shop.epochs) == 1
    shop.sync()
    assert_each_sale_once(db, shop.sold)
    assert len(shop.sold) == 9


def test_restored_store_that_sends_before_the_ack_arrives_is_refused_then_moves_on(
        db: Database, tmp_path: Path, history: tuple[Shop, Path]) -> None:
    shop, backup = history
    shop = restored(shop, backup, db, tmp_path / "restored.db")
    shop.sell(4)
    # The uplink sends before the retained ack is handled: central sees seqs 4 and 5 with
    # other sales than its own and applies nothing (it would otherwise take 6 and 7 and
    # acknowledge 7, and the store would forget its new sales 4 and 5).
    shop.uplink.step()
    assert shop.link.conflicts >= 1 and len(at_central(db)) == 5
    shop.link.deliver()
    assert len(shop.epochs) == 1
    shop.sync()
    assert_each_sale_once(db, shop.sold)


def test_a_second_restore_of_the_same_backup_is_handled_alike(
        db: Database, tmp_path: Path, history: tuple[Shop, Path]) -> None:
    shop, backup = history
    first = restored(shop, backup, db, tmp_path / "first.db")
    first.sell(3)
    first.uplink.step()
    first.link.deliver()
    first.sync()
    second = restored(first, backup, db, tmp_path / "second.db")
    second.sell(2)
    second.uplink.step()
    second.link.deliver()
    second.sync()
    assert_each_sale_once(db, second.sold)
    assert len(second.sold) == 10


def test_batches_of_a_restored_store_ingested_out_of_order_are_refused_too(
        db: Database, tmp_path: Path, history: tuple[Shop, Path]) -> None:
    shop, backup = history
    shop = restored(shop, backup, db, tmp_path / "restored.db")
    shop.sell(4)  # seqs 4..7; central holds 4 and 5 for other sales
    shop.link.held = []
    shop.uplink.step()  # batches [3, 4, 5] and [6, 7]
    # A second worker takes [6, 7] first: it starts right after central's cursor (5) but
    # names our seq 5 as its predecessor, which is not central's seq 5.
    shop.link.ingest_held(lambda batches: list(reversed(batches)))
    assert shop.link.conflicts == 2 and len(at_central(db)) == 5
    shop.link.deliver()
    assert len(shop.epochs) == 1
    shop.sync()
    assert_each_sale_once(db, shop.sold)
