"""Central's answer to a store's checksums: a snapshot for drift, less and less often when a
snapshot does not cure it. The link is a recorder (the broker is not what is tested here;
tests/e2e/test_snapshot.py repairs drift through a real one)."""

from __future__ import annotations

from typing import Any

import pytest

from central.bridge import publisher as publisher_mod
from central.bridge.publisher import Publisher
from central.db import Database
from central.services import catalog, changelog, stores
from protocol.encoding import loads


class RecordingLink:
    connected = True

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def subscribe(self, *_: Any) -> None:
        return None

    def publish_and_wait(self, topic: str, payload: bytes) -> bool:
        self.sent.append(loads(payload))
        return True


class Clock:
    now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(publisher_mod.time, "monotonic", fake.monotonic)
    return fake


def test_drift_gets_a_snapshot_then_backs_off_while_it_persists(
        central_db: Database, clock: Clock) -> None:
    with central_db.transaction() as session:
        stores.create_store(session, "kiosk-1", "Kiosk 1")
        catalog.create_category(session, "food", "Food")
    with central_db.sessions() as session:
        version, checksum = changelog.checksums(session)["catalog"]
    link = RecordingLink()
    publisher = Publisher(central_db, link, "log-1")  # type: ignore[arg-type]

    def ask(store_checksum: str) -> list[str]:
        link.sent.clear()
        publisher.catch_up("kiosk-1", {"catalog": version, "store-config@s:kiosk-1": 1},
                           "log-1", {"catalog": store_checksum})
        return [m["kind"] for m in link.sent]

    assert ask(checksum) == []  # in step: nothing to send
    wrong = "f" * 16
    assert ask(wrong) == ["snapshot"]
    clock.now += 31
    assert ask(wrong) == ["snapshot"]  # it did not hold: again, after 30 s
    clock.now += 31
    assert ask(wrong) == []  # now it waits 60 s
    clock.now += 30
    assert ask(wrong) == ["snapshot"]
    clock.now += 100
    assert ask(checksum) == []  # cured: the back-off is forgotten
    assert ask(wrong) == ["snapshot"]  # new drift: repaired at the first pause again
