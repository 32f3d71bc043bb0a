"""The agent's composition root: builds the real adapters and runs them until stopped."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

from waitress.server import create_server

from store_agent import __version__
from store_agent.fiscal.device import FiscalError
from store_agent.fiscal.factory import reconnecting
from store_agent.fiscal.fiscaliser import Fiscaliser
from store_agent.fiscal.plu import PluSync
from store_agent.fiscal.printer_state import PrinterState
from store_agent.pos.api import create_app
from store_agent.pos.customers import Customers
from store_agent.pos.mailer import Mailer
from store_agent.settings import AgentSettings
from store_agent.sqlite_store import LocalStore
from store_agent.sync import central_clock
from store_agent.sync.sync import StoreSync
from store_agent.sync.uplink import Uplink
from transport.mqtt_link import MqttLink

CENTRAL_TIMEOUT = 5.0  # seconds the doctor's question to central may take
FIND_CUSTOMER_TIMEOUT = 2.0  # seconds a till waits for central to find a customer

log = logging.getLogger(__name__)


class PosPortBusy(RuntimeError):
    """The POS API's address is taken (another agent, or another program)."""


def private_database(path: Path) -> None:
    """Create the local database file readable by its owner only (SQLite gives its journal
    and WAL files the same mode); an existing file is left as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


class Agent:
    """One store: local store, sync, uplink and the POS API."""

    def __init__(self, settings: AgentSettings, serve_pos: bool = True) -> None:
        self.settings = settings
        self.serve_pos = serve_pos
        private_database(settings.database)
        self.store = LocalStore(settings.database)

        def link_factory(**kwargs: Any) -> MqttLink:
            return MqttLink(settings.broker, f"store-{settings.store}", **kwargs)

        self.sync = StoreSync(self.store, settings.store, link_factory,
                              catch_up_interval=settings.catch_up_interval)
        self.uplink = Uplink(self.store, self.sync.link, settings.store,
                             batch_size=settings.batch_size,
                             stall_timeout=settings.stall_timeout,
                             window=settings.uplink_window,
                             on_new_epoch=lambda _epoch: self.sync.rebirth())
        self.sync.uplink = self.uplink
        self.mailer = None if settings.smtp is None else Mailer(self.store, settings.smtp)

        def on_sale() -> None:
            self.uplink.notify()
            if self.mailer is not None:
                self.mailer.notify()

        self.fiscal: Fiscaliser | None = None
        self.plu: PluSync | None = None
        self.printer_state: PrinterState | None = None
        if settings.printer is not None:
            self.fiscal = Fiscaliser(self.store, reconnecting(settings.printer))
            self.plu = PluSync(self.store, self.fiscal, settings.store)
            self.printer_state = PrinterState(self.fiscal)
        self.customers = Customers(
            self.store, settings.store, settings.customers,
            ask=lambda body: self.sync.requests.call("find_customer", body,
                                                     timeout=FIND_CUSTOMER_TIMEOUT),
            on_edit=self.uplink.notify)
        self.app = create_app(self.store, self.sync.replica, settings.store, self.status,
                              on_sale=on_sale, fiscal=self.fiscal,
                              receipt_printer=settings.receipt_printer,
                              display_dir=settings.display_dir,
                              central_clock=lambda: central_clock.ask(self.sync.requests,
                                                                      CENTRAL_TIMEOUT),
                              customers=self.customers)
        self.stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    def status(self) -> dict[str, Any]:
        with self.store.read() as conn:
            products = conn.execute("SELECT COUNT(*) FROM products WHERE active = 1"
                                    ).fetchone()[0]
            sales = conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
        return {"store": self.settings.store, "agent_version": __version__,
                "epoch": self.store.meta("epoch"),
                "broker_connected": self.sync.link.connected,
                # Central is only reachable through the broker: no session, no central.
                "central_online": self.sync.link.connected and self.sync.central_online,
                "streams": self.store.stream_versions(),
                "outbox_pending": self.uplink.pending(), "outbox_acked": self.uplink.acked,
                "products": products, "sales": sales,
                "fiscal_pending": None if self.fiscal is None else len(self.fiscal.pending()),
                "fiscal_printer": None if self.printer_state is None
                else self.printer_state.state()}

    def bind_pos(self) -> None:
        """Take the POS API's address before anything connects, or say who should change
        what (a busy port must not crash a running agent or loop under systemd unseen)."""
        host, port = self.settings.pos_host, self.settings.pos_port
        try:
            self.server = create_server(self.app, host=host, port=port, threads=16,
                                        ident="tessera-agent")
        except OSError as exc:
            raise PosPortBusy(
                f"cannot serve the tills on {host}:{port}: {exc.strerror or exc} (another "
                "agent or program holds it?). Stop it, or set TESSERA_POS_LISTEN (in "
                "/etc/tessera/agent.env) to a free host:port") from exc

    def start(self) -> None:
        if self.serve_pos:
            self.bind_pos()
        self.sync.link.start()
        workers = [(self.uplink.run, "uplink"), (self.sync.run_anti_entropy, "anti-entropy")]
        if self.mailer is not None and self.serve_pos:
            workers.append((self.mailer.run, "mailer"))
        if self.plu is not None and self.serve_pos:
            workers.append((self._run_plu_sync, "plu-sync"))
        if self.printer_state is not None and self.serve_pos:
            workers.append((self._run_printer_watch, "printer-watch"))
        if self.serve_pos:
            workers.append((self._run_display_prefetch, "display-prefetch"))
        for target, name in workers:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        if not self.serve_pos:
            return
        if self.fiscal is not None:
            # Recovery before the first sale: a receipt interrupted by a crash or a power cut
            # is finished, recorded or reprinted now (or sales wait until the printer is back).
            try:
                self.fiscal.ensure_ready()
            except FiscalError as exc:
                log.error("fiscal printer not ready: %s", exc)
        thread = threading.Thread(target=self.server.run, name="pos-api", daemon=True)
        thread.start()
        log.info("store %s: POS API on http://%s:%d/pos/v1, database %s", self.settings.store,
                 self.settings.pos_host, self.settings.pos_port, self.settings.database)

    def _run_plu_sync(self, interval: float = 2.0) -> None:
        """Program the device's articles as central's changes arrive (or fall due)."""
        assert self.plu is not None
        with self.store.read() as conn:
            first = conn.execute("SELECT COUNT(*) FROM plu_numbers").fetchone()[0] == 0
        if first:
            self.plu.mark_all()
        while not self.stopped.wait(interval):
            try:
                while self.plu.run_once(dt.datetime.now(dt.UTC)) and not self.stopped.is_set():
                    pass
            except Exception:  # noqa: BLE001 - keep syncing whatever one pass met
                log.exception("PLU sync pass failed")

    def _run_display_prefetch(self, interval: float = 10.0) -> None:
        """Cache head office's display media as it arrives (and retry what failed), so a
        display shows its pictures from its first minute, with the line up or down."""
        from store_agent.pos import display_content

        while True:
            try:
                display_content.prefetch(self.store, self.settings.store)
            except Exception:  # noqa: BLE001 - a failed look at the content is not fatal
                log.exception("display media prefetch failed")
            if self.stopped.wait(interval):
                return

    def _run_printer_watch(self, interval: float = 2.0) -> None:
        """Tell central the fiscal printer's state (in the birth) whenever it changes."""
        assert self.printer_state is not None
        while True:
            try:
                if self.sync.report_printer(self.printer_state.state()):
                    log.info("fiscal printer now %s", self.sync.printer)
            except Exception:  # noqa: BLE001 - a failed look at the printer is not fatal
                log.exception("printer state check failed")
            if self.stopped.wait(interval):
                return

    def stop(self) -> None:
        if self.mailer is not None:
            self.mailer.stop()
        self.uplink.stop()
        self.sync.stopping.set()
        self.sync.link.stop(farewell=self.sync.farewell())
        self.stopped.set()

    def run_forever(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            log.info("signal %d: stopping", signum)
            self.stopped.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        self.stopped.wait()
        self.stop()
