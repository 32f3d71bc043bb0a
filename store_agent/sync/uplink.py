"""Upstream: publishes outbox entries in order, forgets them only on central's ack.

The broker's PUBACK proves nothing (with no subscriber the broker drops the message), so
the watermark moves only on the retained application acknowledgement. When it stalls the
uplink goes back to the watermark and sends again (go-back-N); central drops what it
already has.

One batch is in flight by default: central's ingest workers share the stores' batches, and
a batch that overtook its predecessor (taken by another worker first) would be a gap that
waits for the stall timeout. A stalled central is overloaded more often than it lost a
message, so each stall in a row doubles the wait (with jitter, up to 8 times the stall
timeout) and the resend is one batch; the first acknowledgement that progresses, or a new
connection, restores both.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from protocol import messages, topics
from protocol.encoding import WireError, dumps, loads
from store_agent.sqlite_store import LocalStore
from store_agent.sync import outbox
from transport.mqtt_link import Inbound, MqttLink

log = logging.getLogger(__name__)

WINDOW_BATCHES = 1  # batches in flight (TESSERA_UPLINK_WINDOW)
MAX_BACKOFF = 8  # stalls in a row stretch the stall timeout up to this many times


class Uplink:
    """Sends the outbox; runs in its own thread."""

    def __init__(self, store: LocalStore, link: MqttLink, code: str, *, batch_size: int = 100,
                 stall_timeout: float = 5.0, window: int = WINDOW_BATCHES,
                 on_new_epoch: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.link = link
        self.code = code
        self.batch_size = batch_size
        self.stall_timeout = stall_timeout
        self.window = window
        self.stalls = 0  # stall timeouts in a row, without progress in between
        self._jitter = 1.0
        self._connection = 0  # bumped by reset(): which connection a send belongs to
        self.epoch = store.meta("epoch") or ""
        self.acked = int(store.meta("acked_seq") or "0")
        self.sent_upto = self.acked
        self.last_progress = time.monotonic()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.on_new_epoch = on_new_epoch
        self._lock = threading.Lock()
        link.subscribe(topics.store_up_ack(code), self._on_ack)

    def notify(self) -> None:
        """A new entry is in the outbox."""
        self.wake.set()

    def reset(self) -> None:
        """Connection (re)made: resend everything after the watermark."""
        with self._lock:
            self.sent_upto = self.acked
            self.last_progress = time.monotonic()
            self.stalls = 0  # a new connection: what stalled the old one says nothing
            self._connection += 1  # a send in flight on the old one must not count
        self.wake.set()

    def pending(self) -> int:
        with self.store.read() as conn:
            return outbox.pending(conn)

    def head(self) -> int:
        with self.store.read() as conn:
            return outbox.head(conn)

    # -- acknowledgement (network thread) ---------------------------------------------------

    def _on_ack(self, message: Inbound) -> None:
        if not message.payload:
            return
        try:
            ack = messages.parse(loads(message.payload), "ack")
        except WireError as exc:
            log.warning("bad ack: %s", exc)
            return
        if ack["epoch"] != self.epoch or ack["store"] != self.code:
            return  # an ack of an earlier life of this store
        self.acknowledge(int(ack["seq"]), ack.get("id"))

    def acknowledge(self, seq: int, entry_id: str | None = None) -> None:
        """Forget every entry up to ``seq`` (central committed them).

        An ack beyond our outbox head, or naming another entry than ours at ``seq``, means
        that central holds seqs of this epoch that our database no longer has (it was
        restored from a backup): our next seqs would collide with them, so the outbox
        moves to a new epoch instead of forgetting anything.
        """
        with self._lock:
            if seq <= self.acked:
                return
            with self.store.write() as conn:
                why = "beyond our outbox head"
                if seq > outbox.head(conn):
                    forked = True
                else:
                    row = conn.execute("SELECT ref FROM outbox WHERE seq = ?",
                                       (seq,)).fetchone()
                    forked = entry_id is not None and row is not None and row[0] != entry_id
                    why = f"as entry {entry_id}, not ours"
                if not forked:
                    conn.execute("DELETE FROM outbox WHERE seq <= ?", (seq,))
                    self.store.set_meta(conn, "acked_seq", str(seq))
                    # The next batch names it as its predecessor ("prev").
                    self.store.set_meta(conn, "acked_id", row[0] if row else entry_id or "")
            if not forked:
                self.acked = seq
                self.sent_upto = max(self.sent_upto, seq)
                self.last_progress = time.monotonic()
                self.stalls = 0
        if forked:
            log.warning("central holds seq %d of epoch %s %s (database restored from a "
                        "backup?): starting a new epoch", seq, self.epoch, why)
            self.start_new_epoch()
        self.wake.set()

    def start_new_epoch(self) -> str:
        """Renumber the unacknowledged outbox from seq 1 under a new epoch; returns it.

        Central records a sale UUID once whatever the epoch, so entries it already holds
        are skipped as duplicates and none is lost or counted twice.
        """
        with self._lock, self.store.write() as conn:
            old = self.store.get_meta(conn, "epoch") or ""
            epoch = uuid.uuid4().hex
            moved = outbox.renumber(conn)
            self.store.set_meta(conn, "epoch", epoch)
            self.store.set_meta(conn, "acked_seq", "0")
            self.store.set_meta(conn, "acked_id", "")
            previous = self.store.get_meta(conn, "previous_epochs")
            self.store.set_meta(conn, "previous_epochs",
                                f"{previous},{old}" if previous else old)
            self.epoch = epoch
            self.acked = self.sent_upto = 0
            self.last_progress = time.monotonic()
            self.stalls = 0
        log.warning("outbox moved from epoch %s to %s with %d unacknowledged entries",
                    old, epoch, moved)
        if self.on_new_epoch is not None:
            self.on_new_epoch(epoch)
        self.wake.set()
        return epoch

    # -- sending (uplink thread) ------------------------------------------------------------

    def run(self) -> None:
        while not self.stopping.is_set():
            self.wake.wait(timeout=0.5)
            self.wake.clear()
            try:
                self.step()
            except Exception:
                log.exception("uplink step failed")
                self.stopping.wait(1.0)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def stall_limit(self) -> float:
        """Seconds without progress before going back to the watermark (backed off)."""
        if not self.stalls:
            return self.stall_timeout
        return self.stall_timeout * min(MAX_BACKOFF, 2.0 ** self.stalls) * self._jitter

    def step(self) -> int:
        """Send what the window allows; go back to the watermark if acks stalled."""
        if not self.link.connected:
            return 0
        now = time.monotonic()
        with self._lock:
            waited = now - self.last_progress
            if self.sent_upto > self.acked and waited > self.stall_limit():
                log.info("no ack for %.0fs: resending after seq %d", waited, self.acked)
                self.sent_upto = self.acked
                self.last_progress = now
                self.stalls += 1
                # Stores that stalled together must not all come back together.
                self._jitter = random.uniform(1.0, 1.25)
            epoch = self.epoch
            connection = self._connection
            start = self.sent_upto
            if start == self.acked:
                self.last_progress = now  # the stall clock starts with the first unacked send
            # After a stall, one batch until an acknowledgement progresses again.
            window = 1 if self.stalls else max(1, self.window)
            limit = self.acked + self.batch_size * window - start
        if limit <= 0:
            return 0
        with self.store.read() as conn:
            if self.store.get_meta(conn, "epoch") != epoch:
                return 0  # renumbered since: the next step starts again
            rows = conn.execute("SELECT seq, kind, ref, body FROM outbox WHERE seq > ? "
                                "ORDER BY seq LIMIT ?", (start, limit)).fetchall()
            head = outbox.head(conn)
            before = conn.execute("SELECT ref FROM outbox WHERE seq = ?", (start,)).fetchone()
            prev = before[0] if before else self.store.get_meta(conn, "acked_id") or None
        sent = 0
        for i in range(0, len(rows), self.batch_size):
            chunk = rows[i:i + self.batch_size]
            if i:
                prev = rows[i - 1]["ref"]
            payload = self.batch(chunk, epoch, head, prev)
            if not self.link.publish_and_wait(topics.store_up(self.code), payload):
                break
            sent += len(chunk)
            with self._lock:
                if self.epoch != epoch or self._connection != connection:
                    break  # renumbered, or reconnected meanwhile: resend from the watermark
                self.sent_upto = max(self.sent_upto, int(chunk[-1]["seq"]))
        return sent

    def batch(self, rows: list[Any], epoch: str | None = None, head: int | None = None,
              prev: str | None = None) -> bytes:
        """A batch message; ``prev`` is the id of the entry before the first one, which
        lets central refuse a batch that does not continue the history it holds."""
        entries = [{"seq": int(r["seq"]), "kind": r["kind"], "id": r["ref"],
                    "body": loads(r["body"])} for r in rows]
        body: dict[str, Any] = {"store": self.code, "epoch": epoch or self.epoch,
                                "entries": entries,
                                "sent_at": dt.datetime.now(dt.UTC).isoformat()}
        if head is not None:
            body["head"] = head
        if prev and int(rows[0]["seq"]) > 1:
            body["prev"] = prev
        return dumps(messages.envelope("batch", **body))
