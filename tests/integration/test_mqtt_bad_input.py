"""Regressions found by tests/fuzz/test_mqtt_fuzz.py: what a store's topics may carry that
central once failed on (an exception, so the message was neither applied nor parked)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from central.db import Database
from central.models import ParkedEntry
from central.services import upstream
from protocol import messages
from protocol.encoding import WireError

pytestmark = pytest.mark.integration


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
