"""The agent's side of the MQTT conversation: births, deaths, changes in, catch-up requests."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from typing import Any

from protocol import messages, topics
from protocol.encoding import WireError, dumps, loads
from protocol.streams import BUCKETS
from store_agent import __version__
from store_agent.sqlite_store import LocalStore
from store_agent.sync import outbox
from store_agent.sync.replica import Replica
from store_agent.sync.uplink import Uplink
from transport.mqtt_link import Inbound, MqttLink, Will
from transport.rpc import Requester

log = logging.getLogger(__name__)

CATCH_UP_MIN_GAP = 2.0


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


_PRINTABLE_ONLY = re.compile(r"[\x00-\x1f\x7f]+")


class StoreSync:
    """Keeps the replica current and announces the store's liveness."""

    def __init__(self, store: LocalStore, code: str, link_factory: Any,
                 catch_up_interval: float = 30.0) -> None:
        self.store = store
        self.code = code
        self.catch_up_interval = catch_up_interval
        self.session = self._next_session()
        self.replica = Replica(store, on_hole=self._on_hole)
        self.link: MqttLink = link_factory(will=Will(topics.store_state(code),
                                                     self._state(False, self.session)),
                                           on_connected=self._on_connected)
        self.link.client.on_disconnect = self._wrap_disconnect(self.link.client.on_disconnect)
        self.uplink: Uplink | None = None
        # The fiscal printer as last reported in the birth ({state, message}); None when the
        # store has no printer or has not asked it yet (see ``report_printer``).
        self.printer: dict[str, Any] | None = None
        self.central_online: bool | None = None
        self._last_catch_up = 0.0
        self._catch_up_lock = threading.Lock()
        self.stopping = threading.Event()
        for bucket in BUCKETS:
            self.link.subscribe(topics.bucket_down(bucket), self._on_changes)
        self.link.subscribe(topics.store_down(code), self._on_changes)
        self.link.subscribe(topics.CENTRAL_STATE, self._on_central)
        self.link.subscribe(topics.store_cmd(code), self._on_command)
        # Requests to central (rpc), failing fast while central is known offline.
        self.requests = Requester(self.link, code, central_online=lambda: self.central_online)

    # -- messages ---------------------------------------------------------------------------

    def _next_session(self) -> int:
        """The counter of the next connection: grows with each, and is at least the clock in
        milliseconds, so that a reinstalled or restored database does not start again below
        the counter central last saw (its births would look stale)."""
        with self.store.write() as conn:
            value = max(int(self.store.get_meta(conn, "session") or "0") + 1,
                        int(time.time() * 1000))
            self.store.set_meta(conn, "session", str(value))
        return value

    def _state(self, online: bool, session: int) -> bytes:
        body: dict[str, Any] = {"store": self.code, "online": online, "session": session,
                                "epoch": self.store.meta("epoch"), "sent_at": _now()}
        if online:
            versions, checksums = self.store.stream_state()
            body.update(agent_version=__version__, log_epoch=self.replica.log_epoch(),
                        streams=versions, checksums=checksums)
            if self.uplink is not None:
                body.update(outbox_head=self.uplink.head(),
                            outbox_pending=self.uplink.pending())
            if self.printer is not None:
                body["printer"] = self.printer
        return dumps(messages.envelope("birth" if online else "death", **body))

    def _on_connected(self, link: MqttLink) -> None:
        link.publish(topics.store_state(self.code), self._state(True, self.session), retain=True)
        self._last_catch_up = time.monotonic()  # the birth itself asks for catch-up
        if self.uplink is not None:
            self.uplink.reset()

    def rebirth(self) -> None:
        """Publish the birth again (same session): the epoch or the outbox changed."""
        if self.link.connected:
            self.link.publish(topics.store_state(self.code), self._state(True, self.session),
                              retain=True)

    def report_printer(self, state: dict[str, Any]) -> bool:
        """The printer's state as ``PrinterState.state`` gives it; when it differs from the
        one last published, the birth is published again with it. Returns True then.

        ``busy`` (the device is printing a receipt) says nothing about its health: the last
        state stands.
        """
        if state.get("state") == "busy":
            return False
        text = "; ".join(str(m) for m in state.get("messages") or [])
        message = _PRINTABLE_ONLY.sub(" ", text).strip()[:500] or None
        report = {"state": str(state.get("state") or "unknown"), "message": message}
        if report == self.printer:
            return False
        self.printer = report
        self.rebirth()
        return True

    def _wrap_disconnect(self, inner: Any) -> Any:
        def handler(*args: Any) -> None:
            inner(*args)
            # The next connection is a new session: its will must carry the new counter
            # so that central can tell a late will from the current one.
            self.session = self._next_session()
            self.link.client.will_set(topics.store_state(self.code),
                                      self._state(False, self.session), qos=1, retain=True)
        return handler

    def _on_changes(self, message: Inbound) -> None:
        try:
            parsed = messages.parse(loads(message.payload), "changes", "snapshot")
        except WireError as exc:
            log.warning("ignored bad message on %s: %s", message.topic, exc)
            return
        if parsed["kind"] == "snapshot":
            result = self.replica.apply_snapshot(parsed)
        else:
            result = self.replica.apply(parsed)
        if result.applied:
            log.info("stream %s now at version %d (+%d)", result.stream, result.version,
                     result.applied)

    def _on_command(self, message: Inbound) -> None:
        try:
            command = messages.parse(loads(message.payload), "rebirth")
        except WireError as exc:
            log.warning("ignored command on %s: %s", message.topic, exc)
            return
        if command["store"] == self.code:
            log.info("central asks for our birth again (it holds us offline)")
            self.rebirth()

    def _on_central(self, message: Inbound) -> None:
        try:
            state = messages.parse(loads(message.payload), "central")
        except WireError:
            return
        was = self.central_online
        self.central_online = bool(state["online"])
        if self.central_online and was is False:
            self.request_catch_up(force=True)

    def _on_hole(self, stream: str, version: int) -> None:
        self.request_catch_up()

    # -- catch-up ---------------------------------------------------------------------------

    def request_catch_up(self, force: bool = False) -> bool:
        """Ask central for every change after our versions (rate limited)."""
        with self._catch_up_lock:
            now = time.monotonic()
            if not force and now - self._last_catch_up < CATCH_UP_MIN_GAP:
                return False
            self._last_catch_up = now
        if not self.link.connected:
            return False
        versions, checksums = self.store.stream_state()
        body = messages.envelope("catch_up", store=self.code,
                                 log_epoch=self.replica.log_epoch(),
                                 streams=versions, checksums=checksums, sent_at=_now(),
                                 **self._outbox_state())
        self.link.publish(topics.store_rpc(self.code), dumps(body))
        return True

    def _outbox_state(self) -> dict[str, Any]:
        """The upstream epoch and outbox as they stand, read together (for central's backlog
        figure, which a wrong batch ``head`` must not keep)."""
        if self.uplink is None:
            return {}
        with self.store.read() as conn:
            epoch = self.store.get_meta(conn, "epoch")
            if not epoch:
                return {}
            return {"epoch": epoch, "outbox_head": outbox.head(conn),
                    "outbox_pending": outbox.pending(conn)}

    def run_anti_entropy(self) -> None:
        """Periodically ask for catch-up: a lost last change has no successor to reveal it."""
        while not self.stopping.wait(self.catch_up_interval):
            try:
                self.request_catch_up()
            except Exception:
                log.exception("catch-up request failed")

    def farewell(self) -> tuple[str, bytes]:
        return topics.store_state(self.code), self._state(False, self.session)
