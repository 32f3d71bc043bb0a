"""The sale at the till from request to receipt: fiscal readiness, the recorded sale, its
fiscal receipt, the e-mail state and the paper receipt, in that order.

``till.record_sale`` commits the sale with its outbox entry; this service wraps it with
what the store's devices need. The POS API's sales and receipts views only call it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from store_agent.fiscal.fiscaliser import Fiscaliser
from store_agent.pos import receipts, till
from store_agent.pos.escpos_receipt import ReceiptPrinterError, print_receipt
from store_agent.settings import ReceiptPrinterSettings
from store_agent.sqlite_store import LocalStore

log = logging.getLogger(__name__)


class UnknownSale(LookupError):
    """No sale with this UUID at this store."""


class NoReceiptPrinter(LookupError):
    """The agent has no (non-fiscal) receipt printer configured."""


@dataclass(frozen=True)
class Sold:
    """A recorded sale as the till sees it, and whether this request recorded it."""

    sale: dict[str, Any]
    created: bool


@dataclass
class Checkout:
    """Records sales and prints their receipts with the store's devices."""

    store: LocalStore
    store_code: str
    clock: Callable[[], dt.datetime]
    fiscal: Fiscaliser | None = None
    receipt_printer: ReceiptPrinterSettings | None = None
    on_sale: Callable[[], None] = field(default=lambda: None)

    def sell(self, request: dict[str, Any]) -> Sold:
        """Record a sale (``request`` with normalised lines). Replaying the same UUID and
        content returns the original; the same UUID with other content raises
        ``till.SaleConflict``. With a fiscal device the sale is committed first, then
        fiscalised; while an earlier sale has no receipt a new one raises
        ``FiscalNotReady`` and nothing is recorded."""
        if self.fiscal is not None and not till.has_sale(self.store, str(request["uuid"])):
            self.fiscal.ensure_ready()
        outcome = till.record_sale(self.store, self.store_code, request, self.clock(),
                                   fiscal=self.fiscal)
        if outcome.created:
            self.on_sale()
        sale = outcome.sale
        if request.get("email"):
            with self.store.read() as conn:
                sale = {**sale, "email": receipts.email_state(conn, sale["uuid"])}
        if self.fiscal is not None:
            sale = {**sale, "fiscal": self.fiscal.fiscalise(sale["uuid"]).as_dict()}
        if self.receipt_printer is not None and outcome.created:
            sale = {**sale, "paper_receipt": self._print(sale["uuid"])}
        return Sold(sale, outcome.created)

    def receipt(self, sale_uuid: str) -> dict[str, Any]:
        """The customer's receipt of a sale: text with header and footer, logo, e-mail,
        and the receipt profile it was rendered with."""
        with self.store.read() as conn:
            row = conn.execute("SELECT result FROM sales WHERE uuid = ?",
                               (sale_uuid,)).fetchone()
            if row is None:
                raise UnknownSale(f"no sale {sale_uuid}")
            sale = json.loads(row[0])
            profile = receipts.effective_profile(conn, self.store_code)
            name = conn.execute("SELECT name FROM store_info WHERE code = ?",
                                (self.store_code,)).fetchone()
            email = receipts.email_state(conn, sale_uuid)
            zone = receipts.store_zone(conn, self.store_code)
        return {"uuid": sale["uuid"], "number": sale["number"],
                "text": receipts.render_text(sale, profile, name[0] if name else None, zone),
                "logo_png": profile.get("logo_png"), "email": email,
                "email_policy": profile["email"]["policy"], "profile": profile}

    def reprint(self, sale_uuid: str) -> str:
        """Print the paper receipt again: 'printed', or why the printer failed."""
        if self.receipt_printer is None:
            raise NoReceiptPrinter("no receipt printer is configured "
                                   "(TESSERA_RECEIPT_PRINTER_URL)")
        self.receipt(sale_uuid)  # UnknownSale before the printer is tried
        return self._print(sale_uuid)

    def _print(self, sale_uuid: str) -> str:
        assert self.receipt_printer is not None
        try:
            receipt = self.receipt(sale_uuid)
        except UnknownSale:
            return "no such sale"
        try:
            print_receipt(self.receipt_printer, receipt["text"], receipt["profile"])
        except ReceiptPrinterError as exc:
            log.warning("paper receipt of %s not printed: %s", sale_uuid, exc)
            return f"failed: {exc}"
        return "printed"
