"""Upstream: store batches in, one PostgreSQL transaction each, then the retained ack.

The broker's PUBACK is sent only after the commit (manual ack), and the application
acknowledgement (retained on ``stores/{store}/up/ack``) names the highest contiguous seq
committed, so a store forgets an entry only once central holds it. Several ingesters share
the load through a shared subscription; the per-store cursor row lock keeps them from
interleaving one store.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable

from central.db import Database
from central.services import repricing, upstream
from central.services.customer_upstream import CustomerHandler
from central.services.fiscal import FiscalHandler
from central.services.footfall import FootfallHandler
from central.services.instructions import SeenHandler
from central.services.sales import SaleHandler
from central.services.surveys import AnswerHandler
from protocol import messages, topics
from protocol.encoding import WireError, dumps, loads
from transport.mqtt_link import Inbound, MqttLink

log = logging.getLogger(__name__)

SHARE_GROUP = "tessera-ingest"

# Central's handler of every upstream entry kind (protocol.upstream), in the order they are
# applied within a batch: a kind after the kinds it names.
HANDLERS = upstream.Registry([CustomerHandler(), SaleHandler(), FiscalHandler(), SeenHandler(),
                              FootfallHandler(), AnswerHandler()])


def ack_message(store: str, epoch: str, seq: int, last_id: str | None = None) -> bytes:
    return dumps(messages.envelope("ack", store=store, epoch=epoch, seq=seq, id=last_id,
                                   sent_at=dt.datetime.now(dt.UTC).isoformat()))


class Ingester:
    """Consumes ``stores/+/up`` and records each batch exactly once."""

    def __init__(self, db: Database, link: MqttLink,
                 handlers: upstream.Registry = HANDLERS) -> None:
        self.db = db
        self.link = link
        self.handlers = handlers
        self.inbox: queue.Queue[Inbound] = queue.Queue()
        self.stopping = threading.Event()
        self.ingested = 0
        self.last_batch_at = 0.0  # time.monotonic() when the last batch was handled
        link.subscribe(topics.shared(SHARE_GROUP, topics.ALL_STORES_UP), self.inbox.put)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                message = self.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.handle(message)
                self.last_batch_at = time.monotonic()
            except Exception:
                # Not acknowledged: the store resends after its stall timeout.
                log.exception("ingest of %s failed; left for the store to resend",
                              message.topic)
                self.stopping.wait(0.5)

    def stop(self) -> None:
        self.stopping.set()

    def busy(self, quiet: float = 0.3) -> bool:
        """Batches are waiting, or one was handled less than ``quiet`` seconds ago."""
        return not self.inbox.empty() or time.monotonic() - self.last_batch_at < quiet

    def handle(self, message: Inbound) -> None:
        """Ingest one batch, commit, publish the ack, then confirm to the broker."""
        code = topics.store_of(message.topic)
        try:
            batch = messages.parse(loads(message.payload), "batch")
            if batch["store"] != code:
                raise WireError(f"batch names store {batch['store']!r} on {message.topic}")
        except WireError as exc:
            log.warning("parked unreadable batch on %s: %s", message.topic, exc)
            with self.db.transaction() as session:
                upstream.park(session, message.topic, code, str(exc), message.payload)
            message.ack()
            return
        try:
            with self.db.transaction() as session:
                result = upstream.ingest_batch(session, batch, message.topic,
                                                self.handlers)
        except upstream.UnknownStore:
            log.warning("parked batch of unknown store %s", code)
            with self.db.transaction() as session:
                upstream.park(session, message.topic, code, "unknown store", message.payload)
            message.ack()
            return
        self.ingested += result.applied
        self.link.publish(topics.store_up_ack(result.store),
                          ack_message(result.store, result.epoch, result.acked,
                                      result.last_id), retain=True)
        message.ack()
        if result.conflict:
            log.warning("%s reuses seqs of epoch %s that central holds for other entries "
                        "(restored from a backup?): nothing applied, the store must start a "
                        "new epoch", result.store, result.epoch)
        if result.gap:
            log.info("gap from %s after seq %d; waiting for resend", result.store, result.acked)


class Repricer:
    """Prices received sales again at central (off the ingest hot path) and records drift.

    In an ingest process it gives way to ingest (``busy``): while batches keep coming it
    re-prices only a few sales every ``starve_after`` seconds, and catches up when ingest
    is quiet. ``tessera central reprice`` runs it alone, at full speed.
    """

    def __init__(self, db: Database, interval: float = 0.5,
                 busy: Callable[[], bool] | None = None, batch: int = 200,
                 busy_batch: int = 20, starve_after: float = 5.0) -> None:
        self.db = db
        self.interval = interval
        self.busy = busy
        self.batch = batch
        self.busy_batch = busy_batch
        self.starve_after = starve_after
        self.stopping = threading.Event()

    def run(self) -> None:
        last_pass = time.monotonic()
        while not self.stopping.is_set():
            busy = self.busy is not None and self.busy()
            if busy and time.monotonic() - last_pass < self.starve_after:
                self.stopping.wait(0.1)
                continue
            try:
                with self.db.transaction() as session:
                    done = repricing.reprice_pending(
                        session, limit=self.busy_batch if busy else self.batch)
            except Exception:
                log.exception("re-pricing failed; retrying")
                done = 0
            last_pass = time.monotonic()
            if not done:
                self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()
