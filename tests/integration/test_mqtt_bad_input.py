"""Regressions found by tests/fuzz/test_mqtt_fuzz.py: what a store's topics may carry that
central once failed on (an exception, so the message was neither applied nor parked)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import select, text

from central.db import Database
from central.models import ParkedEntry, Store, StoreStatus
from central.services import fleet, stores, upstream
from protocol import messages
from protocol.encoding import WireError
from tests.support import wait_until

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def test_a_message_with_nul_bytes_is_parked_on_postgresql(clean_pg_db: Database) -> None:
    payload = b"\xff\x0c\x1bcZ\x00\xfe{"
    with clean_pg_db.transaction() as session:
        upstream.park(session, "tessera/v1/stores/kiosk-1/up", "kiosk-1",
                      "not JSON: not UTF-8 text (byte 0)", payload)
    with clean_pg_db.sessions() as session:
        (row,) = session.scalars(select(ParkedEntry)).all()
    assert row.payload == "\\xff\x0c\x1bcZ\\x00\\xfe{"  # every byte kept, some as escapes
    assert row.reason.startswith("not JSON")


def batch(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"store": "kiosk-1", "epoch": "e1",
                            "entries": [{"seq": 1, "kind": "sale", "id": "a", "body": {}}]}
    return messages.envelope("batch", **{**base, **fields})


@pytest.mark.parametrize("message", [
    batch(head=2**63),
    batch(entries=[{"seq": 2**63, "kind": "sale", "id": "a", "body": {}}]),
    batch(epoch="e\x001"),
    batch(entries=[{"seq": 1, "kind": "sale", "id": "a\x00", "body": {}}]),
    batch(prev="x" * 65),
    messages.envelope("birth", store="kiosk-1", online=True, session=2**63),
    messages.envelope("birth", store="kiosk-1", online=True, session=1, outbox_pending=2**31),
    messages.envelope("birth", store="kiosk-1", online=True, session=1, agent_version="v" * 65),
    messages.envelope("birth", store="kiosk-1", online=True, session=1, epoch="x" * 65),
    messages.envelope("death", store="kiosk-1", online=False, session=1, log_epoch="a\x00"),
    messages.envelope("catch_up", store="kiosk-1", streams={"catalog": 2**63}),
    messages.envelope("catch_up", store="kiosk-1", streams={}, log_epoch="x" * 65),
], ids=lambda m: m["kind"])
def test_values_central_cannot_hold_are_refused_at_the_schema(message: dict[str, Any]) -> None:
    with pytest.raises(WireError):
        messages.parse(message)


def test_a_fiscal_entry_naming_a_device_with_nul_is_refused() -> None:
    with pytest.raises(WireError, match="printable"):
        messages.parse_fiscal({"sale": "50041b7b-8464-4342-be31-f9153062f62b",
                               "document_number": 1, "device": "DT\x00",
                               "fiscalised_at": "2026-11-22T09:30:00+00:00"})


def test_a_new_stores_first_birth_and_batch_at_once_both_count(clean_pg_db: Database) -> None:
    """Found by the fuzzer: the publisher and an ingest worker both created the missing
    status row of a store; the second INSERT failed its transaction (batch unacknowledged)."""
    db = clean_pg_db
    with db.transaction() as session:
        store = stores.create_store(session, "kiosk-1", "Kiosk")
        store_id = store.id
    outcome: list[object] = []
    with db.transaction() as session:
        fleet.record_batch(session, session.get(Store, store_id), "e1", 3, 1, T0)

        def birth() -> None:
            try:
                with db.transaction() as other:
                    outcome.append(fleet.record_state(other, messages.parse(
                        messages.envelope("birth", store="kiosk-1", online=True, session=9,
                                          epoch="e1", outbox_head=3), "birth"), T0))
            except Exception as exc:  # noqa: BLE001 - the failure is the finding
                outcome.append(exc)

        thread = threading.Thread(target=birth)
        thread.start()
        wait_until(lambda: waiting_on_a_lock(db), 10, what="the birth waiting for the batch")
    thread.join(10)
    assert outcome == [True]
    with db.sessions() as session:
        status = session.get(StoreStatus, store_id)
        assert status is not None
        assert (status.online, status.session, status.outbox_head) == (True, 9, 3)


def waiting_on_a_lock(db: Database) -> bool:
    with db.engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")).scalar())


@pytest.mark.parametrize("where", ["till", "cashier", "line name", "line sku"])
def test_a_sale_with_nul_in_its_text_is_parked_not_stuck(clean_pg_db: Database,
                                                         where: str) -> None:
    """PostgreSQL text cannot hold NUL: such a sale must be parked with the reason (the
    batch acknowledged), not fail the batch's transaction for ever."""
    from central.bridge.ingester import HANDLERS
    from tests.fuzz.test_mqtt_fuzz import sale_body

    with clean_pg_db.transaction() as session:
        stores.create_store(session, "kiosk-1", "Kiosk")
    body = sale_body(1)
    if where.startswith("line"):
        body["lines"][0][where.split()[1]] = "a\x00b"
    else:
        body[where] = "a\x00b"
    message = messages.parse(batch(entries=[{"seq": 1, "kind": "sale", "id": body["uuid"],
                                             "body": body}]), "batch")
    with clean_pg_db.transaction() as session:
        result = upstream.ingest_batch(session, message, "tessera/v1/stores/kiosk-1/up",
                                       HANDLERS)
    assert (result.acked, result.applied, result.parked) == (1, 0, 1)
    with clean_pg_db.sessions() as session:
        (row,) = session.scalars(select(ParkedEntry)).all()
    assert "contains a NUL character" in row.reason
