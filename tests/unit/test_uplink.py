"""The store's upstream: outbox entries sent in order, forgotten only on central's ack."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from protocol import messages, topics
from protocol.encoding import dumps, loads
from store_agent.sqlite_store import LocalStore
from store_agent.sync import outbox
from store_agent.sync import uplink as uplink_module
from store_agent.sync.uplink import WINDOW_BATCHES, Uplink
from transport.mqtt_link import Inbound

STORE = "kiosk-1"
AT = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)


class FakeLink:
    """Stands in for MqttLink: records publishes; the test decides whether PUBACK comes."""

    def __init__(self) -> None:
        self.connected = True
        self.accept = True
        self.handlers: dict[str, Callable[[Inbound], None]] = {}
        self.published: list[tuple[str, dict[str, Any]]] = []

    def subscribe(self, topic: str, handler: Callable[[Inbound], None]) -> None:
        self.handlers[topic] = handler

    def publish_and_wait(self, topic: str, payload: bytes) -> bool:
        if not self.accept:
            return False
        self.published.append((topic, messages.parse(loads(payload), "batch")))
        return True

    def deliver(self, topic: str, payload: bytes) -> None:
        self.handlers[topic](Inbound(topic=topic, payload=payload, retain=True, mid=1, qos=1,
                                     link=None))  # type: ignore[arg-type]

    def batches(self) -> list[list[int]]:
        """Seqs of every batch published so far, then forget them."""
        seqs = [[e["seq"] for e in batch["entries"]] for _topic, batch in self.published]
        self.published.clear()
        return seqs


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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


def add_entries(store: LocalStore, count: int) -> None:
    with store.write() as conn:
        for _ in range(count):
            outbox.append(conn, "sale", "ref", {"n": 1}, AT)


def outbox_seqs(store: LocalStore) -> list[int]:
    with store.read() as conn:
        return [int(r[0]) for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")]


def make(store: LocalStore, link: FakeLink, **kwargs: Any) -> Uplink:
    return Uplink(store, link, STORE, **kwargs)  # type: ignore[arg-type]


def ack(store: LocalStore, seq: int, epoch: str | None = None, code: str = STORE) -> bytes:
    return dumps(messages.envelope("ack", store=code, epoch=epoch or store.meta("epoch"),
                                   seq=seq, sent_at=dt.datetime.now(dt.UTC).isoformat()))


def test_entries_go_out_in_order_in_batches(store: LocalStore, link: FakeLink,
                                            clock: Clock) -> None:
    add_entries(store, 7)
    up = make(store, link, batch_size=3, window=3)
    assert up.step() == 7
    assert [topic for topic, _ in link.published] == [topics.store_up(STORE)] * 3
    assert {(b["store"], b["epoch"]) for _, b in link.published} == {(STORE, up.epoch)}
    assert link.batches() == [[1, 2, 3], [4, 5, 6], [7]]
    assert up.step() == 0 and link.batches() == []  # nothing new, nothing resent yet


def test_batches_carry_the_entries_bodies(store: LocalStore, link: FakeLink,
                                          clock: Clock) -> None:
    add_entries(store, 1)
    make(store, link).step()
    (_topic, batch), = link.published
    assert batch["entries"] == [{"seq": 1, "kind": "sale", "id": "ref", "body": {"n": 1}}]


def test_a_puback_forgets_nothing_only_central_ack_does(store: LocalStore, link: FakeLink,
                                                        clock: Clock) -> None:
    add_entries(store, 5)
    up = make(store, link, batch_size=2)
    up.step()
    assert outbox_seqs(store) == [1, 2, 3, 4, 5]  # published and PUBACKed, still kept

    up.acknowledge(3)
    assert outbox_seqs(store) == [4, 5]
    assert up.acked == 3 and store.meta("acked_seq") == "3"
    assert up.pending() == 2 and up.head() == 5


def test_a_stale_ack_changes_nothing(store: LocalStore, link: FakeLink, clock: Clock) -> None:
    add_entries(store, 5)
    up = make(store, link)
    up.acknowledge(4)
    up.acknowledge(2)
    assert up.acked == 4 and outbox_seqs(store) == [5] and store.meta("acked_seq") == "4"


def test_an_ack_beyond_the_outbox_head_forgets_nothing(store: LocalStore, link: FakeLink,
                                                       clock: Clock) -> None:
    add_entries(store, 3)
    up = make(store, link)
    up.acknowledge(4)
    # Central holds more of this epoch than we do: a new epoch (tests/unit/test_epochs.py).
    assert up.acked == 0 and outbox_seqs(store) == [1, 2, 3]


def test_the_window_stops_sending_until_acks_come(store: LocalStore, link: FakeLink,
                                                  clock: Clock) -> None:
    add_entries(store, 25)
    up = make(store, link, batch_size=1, window=20)
    assert up.step() == 20
    assert up.step() == 0
    up.acknowledge(3)
    link.batches()
    assert up.step() == 3
    assert link.batches() == [[21], [22], [23]]


def test_by_default_one_batch_is_in_flight(store: LocalStore, link: FakeLink,
                                           clock: Clock) -> None:
    # Two ingest workers could otherwise take a batch before its predecessor (a gap).
    assert WINDOW_BATCHES == 1
    add_entries(store, 5)
    up = make(store, link, batch_size=2)
    assert up.step() == 2 and up.step() == 0
    up.acknowledge(2)
    assert up.step() == 2
    assert link.batches() == [[1, 2], [3, 4]]


def test_the_ack_topic_handler_applies_acks_of_this_store_and_epoch(
        store: LocalStore, link: FakeLink, clock: Clock) -> None:
    add_entries(store, 5)
    up = make(store, link)
    ack_topic = topics.store_up_ack(STORE)

    link.deliver(ack_topic, ack(store, 4, epoch="an-earlier-life"))
    link.deliver(ack_topic, ack(store, 4, code="market"))
    link.deliver(ack_topic, b"")  # a cleared retained ack
    link.deliver(ack_topic, b"{not json")
    link.deliver(ack_topic, dumps(messages.envelope("ack", store=STORE, epoch=up.epoch)))
    assert up.acked == 0 and outbox_seqs(store) == [1, 2, 3, 4, 5]

    link.deliver(ack_topic, ack(store, 2))
    assert up.acked == 2 and outbox_seqs(store) == [3, 4, 5]


def test_go_back_n_after_the_stall_timeout(store: LocalStore, link: FakeLink,
                                           clock: Clock) -> None:
    add_entries(store, 3)
    up = make(store, link, batch_size=10, stall_timeout=5)
    up.step()
    assert link.batches() == [[1, 2, 3]]

    clock.now += 2
    up.acknowledge(1)  # progress restarts the stall clock
    clock.now += 4
    add_entries(store, 1)
    up.step()
    assert link.batches() == [[4]]  # new entry only: no stall yet (4s since the last ack)

    clock.now += 1.5
    up.step()
    assert link.batches() == [[2, 3, 4]]  # 5.5s without progress: back to the watermark

    clock.now += 1
    up.step()
    assert link.batches() == []  # the resend restarted the stall clock


def test_stalls_in_a_row_back_off_and_progress_resets_them(
        store: LocalStore, link: FakeLink, clock: Clock) -> None:
    add_entries(store, 3)
    up = make(store, link, batch_size=10, stall_timeout=5)
    up.step()
    link.batches()
    waits = []
    for _ in range(6):
        limit = up.stall_limit()
        clock.now += limit - 0.1
        up.step()
        assert link.batches() == []  # not yet
        clock.now += 0.2
        up.step()
        assert link.batches() == [[1, 2, 3]]  # resent once the (grown) timeout passed
        waits.append(limit)
    assert waits[0] == 5
    for stalls, wait in enumerate(waits):
        grown = 5 * min(2**stalls, 8)  # doubles, up to 8 times the stall timeout
        assert grown <= wait <= grown * 1.25  # jitter
    assert waits[-1] >= 40

    up.acknowledge(1)
    assert up.stall_limit() == 5 and up.stalls == 0


def test_a_new_connection_forgets_the_back_off(store: LocalStore, link: FakeLink,
                                               clock: Clock) -> None:
    add_entries(store, 1)
    up = make(store, link, stall_timeout=5)
    up.step()
    for _ in range(3):
        clock.now += up.stall_limit() + 0.1
        up.step()
    assert up.stall_limit() > 5
    up.reset()
    assert up.stall_limit() == 5


def test_after_a_stall_only_one_batch_is_resent(store: LocalStore, link: FakeLink,
                                                clock: Clock) -> None:
    add_entries(store, 6)
    up = make(store, link, batch_size=2, window=3, stall_timeout=5)
    assert up.step() == 6
    link.batches()
    clock.now += 6
    up.step()
    assert link.batches() == [[1, 2]]  # not the whole window again
    up.acknowledge(2)
    up.step()
    assert link.batches() == [[3, 4], [5, 6]]  # progress: the window is open again


def test_no_stall_while_everything_is_acknowledged(store: LocalStore, link: FakeLink,
                                                   clock: Clock) -> None:
    add_entries(store, 2)
    up = make(store, link, stall_timeout=5)
    up.step()
    up.acknowledge(2)
    link.batches()
    clock.now += 60
    add_entries(store, 1)
    up.step()
    assert link.batches() == [[3]]
    clock.now += 1
    up.step()
    assert link.batches() == []  # the stall clock starts with the first unacked send


def test_a_refused_publish_is_retried_from_where_it_stopped(store: LocalStore, link: FakeLink,
                                                            clock: Clock) -> None:
    add_entries(store, 4)
    up = make(store, link, batch_size=2, window=2)
    link.accept = False
    assert up.step() == 0
    link.accept = True
    assert up.step() == 4
    assert link.batches() == [[1, 2], [3, 4]]


def test_nothing_is_sent_while_disconnected(store: LocalStore, link: FakeLink,
                                            clock: Clock) -> None:
    add_entries(store, 2)
    up = make(store, link)
    link.connected = False
    assert up.step() == 0 and link.published == []


def test_reset_resends_everything_after_the_watermark(store: LocalStore, link: FakeLink,
                                                      clock: Clock) -> None:
    add_entries(store, 4)
    up = make(store, link, batch_size=10)
    up.step()
    up.acknowledge(2)
    link.batches()
    up.reset()
    assert up.step() == 2
    assert link.batches() == [[3, 4]]


def test_a_send_that_outlives_its_connection_is_sent_again(store: LocalStore, link: FakeLink,
                                                          clock: Clock) -> None:
    """The connection drops while a batch is on its way: the reconnection resets the uplink
    during that publish, and the batch must go again on the new connection at once (not
    after a stall timeout)."""
    add_entries(store, 3)
    up = make(store, link, batch_size=10)
    real = link.publish_and_wait

    def publish_during_a_reconnect(topic: str, payload: bytes) -> bool:
        up.reset()  # the link came back while this publish waited
        return real(topic, payload)

    link.publish_and_wait = publish_during_a_reconnect  # type: ignore[method-assign]
    up.step()
    link.publish_and_wait = real  # type: ignore[method-assign]
    link.batches()
    assert up.step() == 3  # straight away, no stall timeout
    assert link.batches() == [[1, 2, 3]]


def test_a_restarted_uplink_resumes_after_the_persisted_ack(store: LocalStore, link: FakeLink,
                                                            clock: Clock, tmp_path: Path) -> None:
    add_entries(store, 5)
    first = make(store, link)
    first.step()
    first.acknowledge(3)
    store.close()

    reopened = LocalStore(tmp_path / "agent.db")
    second_link = FakeLink()
    second = make(reopened, second_link)
    assert second.acked == 3 and second.epoch == first.epoch
    assert second.step() == 2
    assert second_link.batches() == [[4, 5]]
