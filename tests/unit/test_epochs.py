"""Epochs at the store: an ack that does not match our outbox moves it to a new epoch."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest

from store_agent.sqlite_store import LocalStore
from store_agent.sync import outbox
from store_agent.sync import uplink as uplink_module
from tests.unit.test_uplink import Clock, FakeLink, add_entries, make, outbox_seqs

AT = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(uplink_module, "time", SimpleNamespace(monotonic=clock))
    return clock


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "agent.db")


@pytest.fixture
def link() -> FakeLink:
    return FakeLink()


def refs(store: LocalStore) -> list[str]:
    with store.read() as conn:
        return [str(r[0]) for r in conn.execute("SELECT ref FROM outbox ORDER BY seq")]


def add_sales(store: LocalStore, *uuids: str) -> None:
    with store.write() as conn:
        for sale_uuid in uuids:
            outbox.append(conn, "sale", sale_uuid, {}, AT)


def test_an_ack_naming_our_entry_forgets_up_to_it(store: LocalStore, link: FakeLink,
                                                  clock: Clock) -> None:
    add_sales(store, "s1", "s2", "s3")
    up = make(store, link)
    epoch = up.epoch
    up.acknowledge(2, "s2")
    assert (up.epoch, up.acked, refs(store)) == (epoch, 2, ["s3"])


def test_an_ack_beyond_our_head_starts_a_new_epoch_keeping_every_entry(
        store: LocalStore, link: FakeLink, clock: Clock) -> None:
    add_sales(store, "s1", "s2", "s3")
    announced: list[str] = []
    up = make(store, link, batch_size=10, on_new_epoch=announced.append)
    old = up.epoch
    up.acknowledge(1, "s1")
    up.acknowledge(7, "someone-else")
    assert up.epoch != old and announced == [up.epoch]
    assert store.meta("epoch") == up.epoch and store.meta("previous_epochs") == old
    assert (up.acked, store.meta("acked_seq")) == (0, "0")
    assert outbox_seqs(store) == [1, 2] and refs(store) == ["s2", "s3"]
    up.step()
    (topic_batch,) = link.published
    assert topic_batch[1]["epoch"] == up.epoch
    assert [(e["seq"], e["id"]) for e in topic_batch[1]["entries"]] == [(1, "s2"), (2, "s3")]
    assert topic_batch[1]["head"] == 2
    # New sales follow on in the new epoch.
    add_sales(store, "s4")
    assert outbox_seqs(store) == [1, 2, 3]


def test_an_ack_naming_another_entry_at_one_of_our_seqs_starts_a_new_epoch(
        store: LocalStore, link: FakeLink, clock: Clock) -> None:
    # Restored from a backup, the store sold again: its seq 3 is not central's seq 3.
    add_sales(store, "s1", "s2", "new-3", "new-4")
    up = make(store, link)
    old = up.epoch
    up.acknowledge(3, "old-3")
    assert up.epoch != old and up.acked == 0
    assert refs(store) == ["s1", "s2", "new-3", "new-4"] and outbox_seqs(store) == [1, 2, 3, 4]


def test_a_central_without_entry_ids_is_trusted_up_to_our_head(
        store: LocalStore, link: FakeLink, clock: Clock) -> None:
    add_entries(store, 3)
    up = make(store, link)
    epoch = up.epoch
    up.acknowledge(3, None)
    assert (up.epoch, up.acked, outbox_seqs(store)) == (epoch, 3, [])


def test_a_batch_read_before_the_switch_does_not_move_the_new_window(
        store: LocalStore, link: FakeLink, clock: Clock) -> None:
    add_sales(store, "s1", "s2")
    up = make(store, link, batch_size=1, window=2)
    original = link.publish_and_wait
    switched: list[str] = []

    def switch_midway(topic: str, payload: bytes) -> bool:
        accepted = original(topic, payload)
        if not switched:
            switched.append(up.start_new_epoch())
        return accepted

    link.publish_and_wait = switch_midway  # type: ignore[method-assign]
    up.step()
    assert up.sent_upto == 0  # the old epoch's seq 1 is not the new epoch's seq 1
    link.published.clear()
    up.step()
    assert [b["epoch"] for _t, b in link.published] == [up.epoch, up.epoch]


def test_the_new_epoch_survives_a_restart(store: LocalStore, link: FakeLink, clock: Clock,
                                          tmp_path: Path) -> None:
    add_sales(store, "s1")
    up = make(store, link)
    epoch = up.start_new_epoch()
    store.close()
    again = make(LocalStore(tmp_path / "agent.db"), FakeLink())
    assert (again.epoch, again.acked) == (epoch, 0)
