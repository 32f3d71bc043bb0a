"""Upstream: publishes outbox entries in order, forgets them only on central's ack.

The broker's PUBACK proves nothing (with no subscriber the broker drops the message), so
the watermark moves only on the retained application acknowledgement. When it stalls the
uplink goes back to the watermark and sends everything again (go-back-N); central drops
what it already has.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

from protocol import messages, topics
from protocol.encoding import WireError, dumps, loads
from store_agent.sqlite_store import LocalStore
from transport.mqtt_link import Inbound, MqttLink

log = logging.getLogger(__name__)

WINDOW_BATCHES = 20


class Uplink:
    """Sends the outbox; runs in its own thread."""

    def __init__(self, store: LocalStore, link: MqttLink, code: str, *, batch_size: int = 100,
                 stall_timeout: float = 5.0) -> None:
        self.store = store
        self.link = link
        self.code = code
        self.batch_size = batch_size
        self.stall_timeout = stall_timeout
        self.epoch = store.meta("epoch") or ""
        self.acked = int(store.meta("acked_seq") or "0")
        self.sent_upto = self.acked
        self.last_progress = time.monotonic()
        self.wake = threading.Event()
        self.stopping = threading.Event()
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
        self.wake.set()

    def pending(self) -> int:
        with self.store.read() as conn:
            row = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(row[0])

    def head(self) -> int:
        with self.store.read() as conn:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"
                               ).fetchone()
        return int(row[0]) if row else 0

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
        self.acknowledge(int(ack["seq"]))

    def acknowledge(self, seq: int) -> None:
        """Forget every entry up to ``seq`` (central committed them)."""
        with self._lock:
            if seq <= self.acked:
                return
            if seq > self.head():
                log.error("ack %d beyond our outbox head; ignored", seq)
                return
            with self.store.write() as conn:
                conn.execute("DELETE FROM outbox WHERE seq <= ?", (seq,))
                self.store.set_meta(conn, "acked_seq", str(seq))
            self.acked = seq
            self.sent_upto = max(self.sent_upto, seq)
            self.last_progress = time.monotonic()
        self.wake.set()

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

    def step(self) -> int:
        """Send what the window allows; go back to the watermark if acks stalled."""
        if not self.link.connected:
            return 0
        now = time.monotonic()
        with self._lock:
            if self.sent_upto > self.acked and now - self.last_progress > self.stall_timeout:
                log.info("no ack for %.0fs: resending after seq %d", self.stall_timeout,
                         self.acked)
                self.sent_upto = self.acked
                self.last_progress = now
            start = self.sent_upto
            if start == self.acked:
                self.last_progress = now  # the stall clock starts with the first unacked send
            limit = self.acked + self.batch_size * WINDOW_BATCHES - start
        if limit <= 0:
            return 0
        with self.store.read() as conn:
            rows = conn.execute("SELECT seq, kind, ref, body FROM outbox WHERE seq > ? "
                                "ORDER BY seq LIMIT ?", (start, limit)).fetchall()
        sent = 0
        for i in range(0, len(rows), self.batch_size):
            chunk = rows[i:i + self.batch_size]
            payload = self.batch(chunk)
            if not self.link.publish_and_wait(topics.store_up(self.code), payload):
                break
            sent += len(chunk)
            with self._lock:
                self.sent_upto = max(self.sent_upto, int(chunk[-1]["seq"]))
        return sent

    def batch(self, rows: list[Any]) -> bytes:
        entries = [{"seq": int(r["seq"]), "kind": r["kind"], "id": r["ref"],
                    "body": loads(r["body"])} for r in rows]
        return dumps(messages.envelope("batch", store=self.code, epoch=self.epoch,
                                       entries=entries,
                                       sent_at=dt.datetime.now(dt.UTC).isoformat()))
