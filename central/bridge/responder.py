"""Store requests in (``stores/+/rpc``), replies out (``stores/{store}/rpc/res``).

Runs in each ``tessera central ingest`` process, on its own thread and queue so that a
request never waits behind a large batch: requests are store-to-central traffic like the
batches, and the ingest workers already share it through a shared subscription (group
``tessera-rpc`` here), so one worker answers each request and more workers answer more.
The reply is stored with the request id (``services.store_requests``): a repeat answered by
another worker gets the same reply.

``catch_up`` requests travel on the same topic but are the publisher's (answered downstream);
this responder leaves them alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time

from central.db import Database
from central.services import customer_upstream, store_requests
from protocol import messages, topics
from protocol.encoding import WireError, dumps, loads
from transport.mqtt_link import Inbound, MqttLink

log = logging.getLogger(__name__)

SHARE_GROUP = "tessera-rpc"
PRUNE_EVERY = 3600.0  # seconds between deletions of old replies

HANDLERS = store_requests.Registry([store_requests.ClockHandler(),
                                     customer_upstream.FindCustomerHandler()])


class Responder:
    """Answers store requests by kind; one thread."""

    def __init__(self, db: Database, link: MqttLink,
                 handlers: store_requests.Registry = HANDLERS) -> None:
        self.db = db
        self.link = link
        self.handlers = handlers
        self.inbox: queue.Queue[tuple[Inbound, float]] = queue.Queue()
        self.stopping = threading.Event()
        self.answered = 0
        self._pruned_at = 0.0
        link.subscribe(topics.shared(SHARE_GROUP, topics.ALL_STORES_RPC), self._on_request)

    def _on_request(self, message: Inbound) -> None:
        self.inbox.put((message, time.monotonic()))

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                message, received = self.inbox.get(timeout=0.2)
            except queue.Empty:
                self._prune()
                continue
            try:
                self.handle(message, received)
            except Exception:
                log.exception("request on %s failed", message.topic)
            message.ack()

    def stop(self) -> None:
        self.stopping.set()

    def handle(self, message: Inbound, received: float) -> None:
        code = topics.store_of(message.topic)
        try:
            request = messages.parse(loads(message.payload), "request", "catch_up")
        except WireError as exc:
            log.warning("unreadable request on %s: %s", message.topic, exc)
            return
        if request["kind"] == "catch_up":
            return  # the publisher's
        if request["store"] != code:
            log.warning("request on %s names store %s; ignored", message.topic,
                        request["store"])
            return
        waited = time.monotonic() - received
        if waited * 1000 > request["ttl_ms"]:
            log.info("%s request %s of %s waited %.1f s, past its deadline: not started",
                     request["request"], request["id"], code, waited)
            return
        try:
            with self.db.transaction() as session:
                reply = store_requests.answer(session, request, self.handlers,
                                              dt.datetime.now(dt.UTC))
        except Exception as exc:
            log.exception("%s request %s of %s failed", request["request"], request["id"],
                          code)
            reply = {"ok": False, "body": None,
                     "error": {"code": "failed", "message": f"central failed: "
                                                           f"{exc.__class__.__name__}"}}
        self.link.publish(topics.store_rpc_reply(code), dumps(messages.envelope(
            "reply", store=code, id=request["id"], request=request["request"],
            sent_at=dt.datetime.now(dt.UTC).isoformat(), **reply)))
        self.answered += 1

    def _prune(self) -> None:
        if time.monotonic() - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = time.monotonic()
        try:
            with self.db.transaction() as session:
                store_requests.prune(session, dt.datetime.now(dt.UTC))
        except Exception:
            log.exception("pruning old request replies failed")
