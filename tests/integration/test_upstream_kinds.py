"""Upstream entry kinds at central (real PostgreSQL): one registry of handlers, the cursor,
epochs, gaps and parking written once for every kind."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from central.bridge.ingester import HANDLERS
from central.db import Database
from central.models import Sale, Store
from central.services import stores, upstream
from central.services.customer_upstream import CustomerHandler
from central.services.fiscal import FiscalHandler
from central.services.sales import SaleHandler
from protocol import upstream as upstream_kinds
from protocol.encoding import WireError
from store_agent.sqlite_store import LocalStore
from store_agent.sync import outbox
from tests.integration.test_ingest import (
    EPOCH_B,
    STORE,
    batch,
    cursor,
    entry,
    fiscal,
    parked,
    recorded,
    sale,
)

pytestmark = pytest.mark.integration


def ingest(db: Database, message: dict[str, Any],
           handlers: upstream.Registry = HANDLERS) -> upstream.IngestResult:
    with db.transaction() as session:
        return upstream.ingest_batch(session, message, "test/up", handlers)


@pytest.fixture
def db(clean_pg_db: Database) -> Iterator[Database]:
    with clean_pg_db.transaction() as session:
        stores.create_store(session, STORE, "Kiosk")
        session.execute(text("CREATE TABLE test_notes (id VARCHAR(64) PRIMARY KEY, "
                             "sale VARCHAR(64) NOT NULL, sale_held BOOLEAN NOT NULL)"))
    yield clean_pg_db
    with clean_pg_db.transaction() as session:
        session.execute(text("DROP TABLE test_notes"))


class NoteHandler:
    """A throwaway kind: a note on an earlier sale, recorded once by its id."""

    kind = "note"
    after = frozenset({"sale"})

    def __init__(self) -> None:
        self.seen: list[str] = []  # entry ids handed to record(), every call

    def read(self, entry: dict[str, Any], store: Store) -> dict[str, Any]:
        if not isinstance(entry["body"].get("sale"), str):
            raise WireError("a note names its sale")
        return entry["body"]

    def record(self, session: Session, store: Store, epoch: str,
               items: list[upstream.Item]) -> upstream.Recorded:
        applied = 0
        for item, body in items:
            self.seen.append(item["id"])
            held = session.scalar(select(Sale.id).where(Sale.uuid == body["sale"])) is not None
            applied += session.execute(text(
                "INSERT INTO test_notes (id, sale, sale_held) VALUES (:id, :sale, :held) "
                "ON CONFLICT (id) DO NOTHING"),
                {"id": item["id"], "sale": body["sale"], "held": held}).rowcount
        return upstream.Recorded(applied=applied, duplicates=len(items) - applied)

    def held(self, session: Session, store: Store, epoch: str,
             seqs: list[int]) -> dict[int, str]:
        return {}


def note(seq: int, sale_uuid: str, note_id: str) -> dict[str, Any]:
    return {"seq": seq, "kind": "note", "id": note_id, "body": {"sale": sale_uuid}}


def notes(db: Database) -> list[tuple[str, str, bool]]:
    with db.sessions() as session:
        return [tuple(row) for row in session.execute(  # type: ignore[misc]
            text("SELECT id, sale, sale_held FROM test_notes ORDER BY id")).all()]


def test_every_kind_of_the_protocol_has_a_handler_at_central() -> None:
    assert sorted(HANDLERS.kinds()) == sorted(upstream_kinds.KINDS)


def test_a_kind_no_handler_knows_is_parked_with_the_reason_and_the_cursor_moves(
        db: Database) -> None:
    # A newer agent sends a kind this central has no handler for: kept, not lost, and the
    # store's later sales are not blocked behind it.
    unknown = {"seq": 2, "kind": "wallet_hold", "id": "c-1", "body": {"name": "Ann"}}
    message = batch(entry(1), unknown, entry(3))
    result = ingest(db, message)
    assert (result.acked, result.applied, result.parked) == (3, 2, 1)
    (store, seq, reason), = parked(db)
    assert (store, seq) == (STORE, 2)
    assert "no handler at central for upstream entry kind 'wallet_hold'" in reason
    assert [s for _e, s, _u in recorded(db)] == [1, 3]
    # The resend parks nothing more.
    assert ingest(db, message).parked == 0
    assert len(parked(db)) == 1


def test_a_known_kind_is_handled_exactly_once_under_replays(db: Database) -> None:
    notes_handler = NoteHandler()
    handlers = upstream.Registry([CustomerHandler(), SaleHandler(), FiscalHandler(),
                                 notes_handler])
    first, second = sale(1), sale(3)
    entries = [entry(1, first), note(2, first["uuid"], "n-1"), entry(3, second),
               note(4, second["uuid"], "n-2")]
    result = ingest(db, batch(*entries), handlers)
    assert (result.acked, result.applied, result.parked) == (4, 4, 0)
    # Replays of the same epoch (whole, overlapping) never reach the handler again.
    for _ in range(3):
        assert ingest(db, batch(*entries), handlers).applied == 0
    assert ingest(db, batch(*entries[2:]), handlers).duplicates == 2
    assert notes_handler.seen == ["n-1", "n-2"]
    # A store restored from a backup sends them again under a new epoch: the handler is
    # asked, records nothing twice.
    renumbered = [dict(e, seq=i) for i, e in enumerate(entries, start=1)]
    again = ingest(db, batch(*renumbered, epoch=EPOCH_B), handlers)
    assert (again.applied, again.duplicates, again.parked) == (0, 4, 0)
    # Each note was recorded after the sale it names, although both came in one batch.
    assert notes(db) == [("n-1", first["uuid"], True), ("n-2", second["uuid"], True)]
    assert len(recorded(db)) == 2 and cursor(db, EPOCH_B) == 4


def test_a_fiscal_receipt_in_the_batch_of_its_sale_finds_it(db: Database) -> None:
    # The common order at a till with a fiscal printer: sale, its receipt, the next sale...
    sales_ = [sale(n) for n in (1, 3, 5)]
    entries = []
    for n, body in zip((1, 3, 5), sales_, strict=True):
        entries += [entry(n, body), fiscal(n + 1, body["uuid"], document=40 + n)]
    result = ingest(db, batch(*entries))
    assert (result.acked, result.applied, result.parked) == (6, 3, 0)
    with db.sessions() as session:
        assert sorted(session.scalars(select(Sale.fiscal_document))) == [41, 43, 45]


def test_the_registry_refuses_a_kind_before_the_kinds_it_names() -> None:
    with pytest.raises(ValueError, match="must be registered before"):
        upstream.Registry([CustomerHandler(), FiscalHandler(), SaleHandler()])
    with pytest.raises(ValueError, match="has a handler already"):
        upstream.Registry([CustomerHandler(), SaleHandler(), SaleHandler()])


def test_the_agent_outbox_refuses_a_kind_the_protocol_does_not_define(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    at = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
    with pytest.raises(upstream_kinds.UnknownEntryKind, match="'wallet_hold'"), \
            store.write() as conn:
        outbox.append(conn, "wallet_hold", "c-1", {"name": "Ann"}, at)
    with store.write() as conn:
        assert outbox.append(conn, "sale", "s-1", {"n": 1}, at) == 1
        outbox.append(conn, "fiscal", "fiscal:s-1", {"n": 2}, at)
        assert (outbox.head(conn), outbox.pending(conn)) == (2, 2)
    with sqlite3.connect(tmp_path / "agent.db") as raw:
        assert raw.execute("SELECT seq, kind, ref FROM outbox ORDER BY seq").fetchall() == [
            (1, "sale", "s-1"), (2, "fiscal", "fiscal:s-1")]

