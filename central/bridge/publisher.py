"""Downstream: sends committed changes in version order, and catches stores up.

One thread owns the database and waits for PUBACKs; paho callbacks only enqueue work
(births and catch-up requests), because waiting for a publish inside a callback hangs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.db import Database
from central.models import Change, PublishCursor, Store, StoreGroup
from central.services import changelog, fleet
from central.services.fleet import streams_for
from protocol import messages, topics
from protocol.encoding import WireError, dumps, loads
from protocol.streams import Scope, parse_stream
from transport.mqtt_link import Inbound, MqttLink, Will

log = logging.getLogger(__name__)

CHUNK = 500
SNAPSHOT_CHUNK = 1000
# A store with nothing of a stream this long gets a snapshot rather than the whole history.
SNAPSHOT_FROM = 1000
# The same store and stream get at most one snapshot in this many seconds (the store asks
# again while one is on its way: its held changes look like a hole).
SNAPSHOT_PAUSE = 30.0
# Drift that a snapshot did not cure is repaired less and less often (doubling, up to an
# hour): a store that cannot hold central's state must not cost a snapshot every 30 s.
DRIFT_PAUSE_MAX = 3600.0


def central_state(online: bool) -> bytes:
    return dumps(messages.envelope("central", online=online,
                                   sent_at=dt.datetime.now(dt.UTC).isoformat()))


def changes_message(stream: str, log_epoch: str, rows: Sequence[Change]) -> bytes:
    return dumps(messages.envelope(
        "changes", stream=stream, log_epoch=log_epoch,
        sent_at=dt.datetime.now(dt.UTC).isoformat(),
        changes=[{"version": c.version, "entity": c.entity, "key": c.key, "op": c.op,
                  "data": None if c.data is None else json.loads(c.data)} for c in rows]))


class Publisher:
    """Publishes the change log and answers stores that are behind."""

    def __init__(self, db: Database, link: MqttLink, log_epoch: str,
                 interval: float = 0.05) -> None:
        self.db = db
        self.link = link
        self.log_epoch = log_epoch
        self.interval = interval
        self.requests: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.stopping = threading.Event()
        self._cursors: dict[str, int] | None = None
        self._snapshots: dict[tuple[str, str], float] = {}
        self._drift_repairs: dict[tuple[str, str], int] = {}
        link.subscribe(topics.ALL_STORES_STATE, self._on_state)
        link.subscribe(topics.ALL_STORES_RPC, self._on_rpc)

    # -- callbacks (network thread): decode and enqueue only ------------------------------

    def _on_state(self, message: Inbound) -> None:
        if not message.payload:
            return  # a cleared retained state
        try:
            state = messages.parse(loads(message.payload), "birth", "death")
        except WireError as exc:
            log.warning("bad state message on %s: %s", message.topic, exc)
            return
        if topics.store_of(message.topic) != state["store"]:
            log.warning("state on %s names store %s; ignored", message.topic, state["store"])
            return
        self.requests.put(("state", state))

    def _on_rpc(self, message: Inbound) -> None:
        try:
            request = messages.parse(loads(message.payload), "catch_up", "request")
        except WireError as exc:
            log.warning("bad request on %s: %s", message.topic, exc)
            return
        if request["kind"] == "request":
            return  # answered by a responder (central.bridge.responder), not downstream
        if topics.store_of(message.topic) != request["store"]:
            log.warning("request on %s names store %s; ignored", message.topic,
                        request["store"])
            return
        self.requests.put(("catch_up", request))

    # -- worker thread ----------------------------------------------------------------------

    def run(self) -> None:
        """Loop until stop(): handle requests, then publish whatever was committed."""
        while not self.stopping.is_set():
            try:
                kind, body = self.requests.get(timeout=self.interval)
            except queue.Empty:
                kind, body = "", {}
            if not self.link.connected:
                if kind:
                    self.requests.put((kind, body))
                self.stopping.wait(0.2)
                continue
            try:
                if kind == "state":
                    self._record_state(body)
                elif kind == "catch_up":
                    with self.db.transaction() as session:
                        lost_birth = fleet.record_catch_up(session, body,
                                                           dt.datetime.now(dt.UTC))
                    if lost_birth:
                        log.info("%s asks for changes but central holds it offline: asking "
                                 "for its birth again", body["store"])
                        self.link.publish(topics.store_cmd(body["store"]), dumps(
                            messages.envelope("rebirth", store=body["store"],
                                              sent_at=dt.datetime.now(dt.UTC).isoformat())))
                    self.catch_up(body["store"], body["streams"], body.get("log_epoch"),
                                  body.get("checksums") or {})
                self.pump()
            except Exception:
                log.exception("publisher step failed; retrying")
                self._cursors = None
                self.stopping.wait(1.0)

    def stop(self) -> None:
        self.stopping.set()

    def pump(self) -> int:
        """Publish every committed change past the cursors; returns how many were sent."""
        sent = 0
        with self.db.sessions() as session:
            if self._cursors is None:
                self._cursors = dict(session.execute(
                    select(PublishCursor.stream, PublishCursor.version)).all())
            for stream, head in changelog.heads(session).items():
                cursor = self._cursors.get(stream, 0)
                while cursor < head:
                    rows = changelog.read(session, stream, cursor, CHUNK)
                    if not rows:
                        break
                    if not self._send_stream(session, stream, rows):
                        return sent
                    cursor = rows[-1].version
                    sent += len(rows)
                    self._save_cursor(session, stream, cursor)
        return sent

    def _send_stream(self, session: Session, stream: str, rows: Sequence[Change]) -> bool:
        bucket, scope = parse_stream(stream)
        payload = changes_message(stream, self.log_epoch, rows)
        return all(self.link.publish_and_wait(topic, payload)
                   for topic in self._targets(session, bucket, scope))

    def _targets(self, session: Session, bucket: str, scope: Scope) -> list[str]:
        if scope.kind == "all":
            return [topics.bucket_down(bucket)]
        if scope.kind == "store":
            assert scope.ref is not None
            return [topics.store_down(scope.ref)]
        codes = session.scalars(select(Store.code).join(StoreGroup)
                                .where(StoreGroup.code == scope.ref)).all()
        return [topics.store_down(code) for code in codes]

    def _save_cursor(self, session: Session, stream: str, version: int) -> None:
        assert self._cursors is not None
        self._cursors[stream] = version
        row = session.get(PublishCursor, stream)
        if row is None:
            session.add(PublishCursor(stream=stream, version=version))
        else:
            row.version = version
        session.commit()

    def catch_up(self, code: str, held: dict[str, int], store_log_epoch: str | None,
                 checksums: dict[str, str] | None = None) -> int:
        """Send a store every change it lacks; everything when it follows another log; a
        snapshot of any stream whose checksum differs from ours at the same version."""
        fresh = store_log_epoch != self.log_epoch
        sent = 0
        with self.db.sessions() as session:
            store = session.scalar(select(Store).where(Store.code == code))
            if store is None:
                log.warning("catch-up asked by unknown store %s", code)
                return 0
            sums = changelog.checksums(session)
            heads = {stream: version for stream, (version, _) in sums.items()}
            compacted = changelog.compacted_to(session)
            for stream in streams_for(store, heads):
                version = 0 if fresh else held.get(stream, 0)
                theirs = (checksums or {}).get(stream)
                drift = (not fresh and version == heads[stream] and theirs is not None
                         and theirs != sums[stream][1])
                repairs = self._drift_repairs.get((code, stream), 0)
                if drift:
                    log.warning("store %s drifted on %s at version %d (checksum %s, central "
                                "%s): repairing with a snapshot%s", code, stream, version,
                                theirs, sums[stream][1],
                                f" (repair {repairs + 1}: the last did not hold)"
                                if repairs else "")
                elif theirs is not None and version == heads[stream]:
                    self._drift_repairs.pop((code, stream), None)  # in step again
                if drift or version < compacted.get(stream, 0) or (
                        version == 0 and heads[stream] >= SNAPSHOT_FROM):
                    pause = min(SNAPSHOT_PAUSE * 2 ** max(repairs - 1, 0), DRIFT_PAUSE_MAX) \
                        if drift else SNAPSHOT_PAUSE
                    done = self._send_snapshot(session, code, stream, pause)
                    if done and drift:
                        self._drift_repairs[(code, stream)] = repairs + 1
                    if done is None:
                        return sent
                    sent += done
                    continue
                while version < heads[stream]:
                    rows = changelog.read(session, stream, version, CHUNK)
                    if not rows:
                        break
                    payload = changes_message(stream, self.log_epoch, rows)
                    if not self.link.publish_and_wait(topics.store_down(code), payload):
                        return sent
                    version = rows[-1].version
                    sent += len(rows)
        if sent:
            log.info("caught %s up with %d changes", code, sent)
        return sent

    def _send_snapshot(self, session: Session, code: str, stream: str,
                       pause: float = SNAPSHOT_PAUSE) -> int | None:
        """Send the stream's whole state to one store, unless one went less than ``pause``
        seconds ago; None if the broker failed us."""
        now = time.monotonic()
        last = self._snapshots.get((code, stream))
        if last is not None and now - last < pause:
            return 0  # one is on its way
        version, checksum, rows = changelog.snapshot(session, stream)
        snapshot_id = uuid.uuid4().hex
        chunks = [rows[i:i + SNAPSHOT_CHUNK] for i in range(0, len(rows), SNAPSHOT_CHUNK)]
        chunks = chunks or [[]]
        for part, chunk in enumerate(chunks, start=1):
            payload = dumps(messages.envelope(
                "snapshot", stream=stream, log_epoch=self.log_epoch, snapshot=snapshot_id,
                version=version, checksum=checksum, part=part, parts=len(chunks),
                sent_at=dt.datetime.now(dt.UTC).isoformat(),
                entries=[{"entity": c.entity, "key": c.key,
                          "data": json.loads(c.data or "{}")} for c in chunk]))
            if not self.link.publish_and_wait(topics.store_down(code), payload):
                return None
        self._snapshots[(code, stream)] = now
        log.info("sent %s a snapshot of %s at version %d (%d entries, %d parts)", code, stream,
                 version, len(rows), len(chunks))
        return len(rows)

    def _record_state(self, state: dict[str, Any]) -> None:
        with self.db.transaction() as session:
            recorded = fleet.record_state(session, state, dt.datetime.now(dt.UTC))
        if not recorded:
            log.info("%s of %s (session %d) ignored: unknown store or stale",
                     state["kind"], state["store"], state["session"])
        elif state["kind"] == "birth":
            self.catch_up(state["store"], state.get("streams") or {}, state.get("log_epoch"),
                          state.get("checksums") or {})


def build_link(broker: Any, client_id: str = "tessera-central-publisher") -> MqttLink:
    link = MqttLink(broker, client_id, will=Will(topics.CENTRAL_STATE, central_state(False)),
                    on_connected=lambda lk: lk.publish(topics.CENTRAL_STATE, central_state(True),
                                                       retain=True))
    return link
