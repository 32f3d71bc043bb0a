"""The simulated RT printer's memory and what it does with each fpmate request.

Faithful to the one property recovery rests on: a fiscal document is one request, checked
whole before anything is printed, then applied and saved at once. A refused or interrupted
request leaves no trace, so there is never a half receipt of ours on the device; only a
document opened by someone else (the ``open_document`` switch, as if typed on the
keyboard) can be open, and ``resetPrinter`` clears it.

State (``DIR/state.json``, rewritten atomically after each request: temporary file, fsync,
rename, fsync of the directory): the Z number, the documents of the current period and the
last one's amount, sales and refunds per department since the last Z, the Z records, the
department table (department -> VAT rate, programmed by the technician), the paper / offline
/ open-document switches, the display and a journal of the last documents.

Refusal codes: ``EPTR_REC_EMPTY`` (paper end) is Epson's. The simulator's own refusals
(``EPTR_SYNTAX``, ``EPTR_INVALID_COMMAND``, ``EPTR_NOT_PAID``, ``EPTR_DOC_OPEN``,
``EPTR_PRINTER_OFFLINE``) are names of ours: what matters to the driver is that they are
refusals, and that offline comes with printerStatus digit 0 = 3.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rules.money import round_money
from store_agent.fiscal.sim_files import write_state

STATE_FILE = "state.json"
JOURNAL_KEEP = 500
DEFAULT_DEPARTMENTS = {"1": "22.00", "2": "10.00", "3": "5.00", "4": "4.00"}
REFUND_REFERENCE = re.compile(r"REFUND \d{4} \d{4} \d{8} \S+")
"""REFUND zzzz nnnn ddmmyyyy SERIAL: it opens a refund document in place of
beginFiscalReceipt."""
Info = list[tuple[str, str]]


class Refusal(Exception):
    """The request is refused as a whole; the state is untouched."""

    def __init__(self, code: str, message: str = "") -> None:
        self.code = code
        super().__init__(message or code)


def initial_state() -> dict[str, Any]:
    return {"model": "FP-81II RT", "serial": "99MEY000001", "z_number": 0, "number": 0,
            "last_amount": "0.00", "last_at": None, "departments": dict(DEFAULT_DEPARTMENTS),
            "totals": {}, "refund_totals": {}, "z_records": [], "paper_out": False,
            "offline": False, "open_document": False, "display": "", "journal": []}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _comma(value: Decimal) -> str:
    return f"{value:.2f}".replace(".", ",")


def _decimal(element: ET.Element, name: str) -> Decimal:
    try:
        value = Decimal(element.get(name, ""))
    except InvalidOperation as exc:
        raise Refusal("EPTR_SYNTAX", f"{_local(element.tag)}: {name} is not a number") from exc
    if not value.is_finite() or value < 0:
        raise Refusal("EPTR_SYNTAX", f"{_local(element.tag)}: bad {name}")
    return value


class RtSimDevice:
    def __init__(self, directory: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.clock = clock or (lambda: datetime.now(UTC))
        path = directory / STATE_FILE
        if path.exists():
            self.state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        else:
            self.state = initial_state()
            self.save()
        self.counters_command, self.totals_command = "1070", "2050"
        self.paper_out_after: int | None = None

    def save(self) -> None:
        write_state(self.directory / STATE_FILE, self.state)

    # -- status ----------------------------------------------------------------------------

    def printer_status(self) -> str:
        state = self.state
        printer = "3" if state["paper_out"] or state["offline"] else "0"
        receipt = "0" if state["open_document"] else "1"
        return f"{printer}01{receipt}0"

    def _base(self, last_command: str = "74") -> Info:
        return [("lastCommand", last_command), ("printerStatus", self.printer_status())]

    def _printable(self) -> None:
        state = self.state
        if self.paper_out_after is not None:
            if self.paper_out_after <= 0:
                self.paper_out_after = None
                state["paper_out"] = True
            else:
                self.paper_out_after -= 1
        if state["paper_out"]:
            raise Refusal("EPTR_REC_EMPTY", "paper end")
        if state["offline"]:
            raise Refusal("EPTR_PRINTER_OFFLINE", "printer offline")
        if state["open_document"]:
            raise Refusal("EPTR_DOC_OPEN", "a document is open")

    # -- requests --------------------------------------------------------------------------

    def execute(self, request: ET.Element) -> Info:
        """Run one request; raise :class:`Refusal` leaving the state as it was."""
        kind = _local(request.tag)
        if kind == "printerFiscalReceipt":
            return self._receipt(request)
        if kind == "printerFiscalReport":
            return self._report(request)
        if kind == "printerNonFiscal":
            self._printable()
            text = [c.get("data", "") for c in request if _local(c.tag) == "printNormal"]
            self._journal({"kind": "nonfiscal", "text": text})
            return self._base()
        if kind in ("printerCommand", "printerCommands"):
            info: Info = []
            for command in request:
                info = self._command(command)
            return info
        raise Refusal("EPTR_INVALID_COMMAND", f"unknown request {kind}")

    def _department(self, element: ET.Element) -> str:
        number = element.get("department", "1").strip().lstrip("0") or "0"
        if number not in self.state["departments"]:
            raise Refusal("EPTR_SYNTAX", f"department {number} is not programmed")
        return number

    def _receipt(self, request: ET.Element) -> Info:
        state = self.state
        items: list[dict[str, str]] = []
        texts: list[str] = []
        paid, reference, begun, ended, kind = Decimal("0"), None, False, False, "sale"
        for element in request:
            tag = _local(element.tag)
            if ended and tag != "openDrawer":
                raise Refusal("EPTR_SYNTAX", f"{tag} after endFiscalReceipt")
            if tag == "printRecMessage":
                if element.get("messageType") == "4":
                    if begun:
                        raise Refusal("EPTR_SYNTAX", "the refund reference opens the document")
                    reference = element.get("message", "")
                    begun = reference.startswith("REFUND ")
                else:
                    texts.append(element.get("message", ""))
            elif tag == "beginFiscalReceipt":
                if begun:
                    raise Refusal("EPTR_SYNTAX", "beginFiscalReceipt twice")
                begun = True
            elif tag in ("printRecItem", "printRecRefund"):
                this = "refund" if tag == "printRecRefund" else "sale"
                if not begun or (items and this != kind):
                    raise Refusal("EPTR_SYNTAX", f"{tag} out of place")
                kind = this
                qty, price = _decimal(element, "quantity"), _decimal(element, "unitPrice")
                if qty <= 0:
                    raise Refusal("EPTR_SYNTAX", "quantity must be positive")
                gross = round_money(qty * price)
                items.append({"description": element.get("description", ""),
                              "quantity": str(qty), "unit_price": str(price),
                              "department": self._department(element), "discount": "0.00",
                              "total": str(gross)})
            elif tag == "printRecItemAdjustment":
                amount = _decimal(element, "amount")
                if not items or element.get("adjustmentType", "0") != "0" \
                        or amount > Decimal(items[-1]["total"]):
                    raise Refusal("EPTR_SYNTAX", "only a discount on the last item")
                items[-1]["discount"] = str(round_money(amount))
                items[-1]["total"] = str(round_money(Decimal(items[-1]["total"]) - amount))
            elif tag == "printRecTotal":
                if not items:
                    raise Refusal("EPTR_SYNTAX", "payment before any item")
                paid += _decimal(element, "payment")
            elif tag == "endFiscalReceipt":
                ended = True
            elif tag not in ("printRecLotteryID", "printRecSubtotal", "openDrawer"):
                raise Refusal("EPTR_INVALID_COMMAND", f"{tag} is not simulated")
        if not (begun and ended and items):
            raise Refusal("EPTR_SYNTAX", "a receipt needs begin, items and end")
        total = sum((Decimal(i["total"]) for i in items), Decimal("0.00"))
        if paid < total:
            raise Refusal("EPTR_NOT_PAID", f"paid {paid} of {total}")
        if (kind == "refund") != (reference is not None) or (
                kind == "refund" and not REFUND_REFERENCE.fullmatch(reference or "")):
            raise Refusal("EPTR_SYNTAX", f"refund reference {reference!r}")
        self._printable()
        # Checked whole: now it is printed.
        target = state["refund_totals"] if kind == "refund" else state["totals"]
        for item in items:
            department = item["department"]
            target[department] = str(Decimal(target.get(department, "0.00"))
                                     + Decimal(item["total"]))
        moment = self.clock()
        state["number"] += 1
        state["last_amount"] = str(total)
        state["last_at"] = moment.isoformat()
        self._journal({"kind": kind, "items": items, "total": str(total), "paid": str(paid),
                       "texts": texts, "reference": reference})
        return [*self._base(), ("fiscalReceiptNumber", f"{state['number']:04d}"),
                ("fiscalReceiptAmount", _comma(total)),
                ("fiscalReceiptDate", f"{moment.day}/{moment.month}/{moment.year}"),
                ("fiscalReceiptTime", f"{moment:%H:%M}"),
                ("zRepNumber", f"{state['z_number'] + 1:04d}")]

    def _daily(self) -> Decimal:
        return sum((Decimal(v) for v in self.state["totals"].values()), Decimal("0.00")) - \
            sum((Decimal(v) for v in self.state["refund_totals"].values()), Decimal("0.00"))

    def _report(self, request: ET.Element) -> Info:
        state = self.state
        tags = [_local(child.tag) for child in request]
        if not tags or any(t not in ("printXReport", "printZReport", "printXZReport",
                                     "displayText") for t in tags):
            raise Refusal("EPTR_INVALID_COMMAND", f"report {tags}")
        self._printable()
        daily = self._daily()
        if "printZReport" in tags or "printXZReport" in tags:
            state["z_number"] += 1
            state["z_records"].append({"number": state["z_number"], "totals": state["totals"],
                                       "refunds": state["refund_totals"],
                                       "at": self.clock().isoformat()})
            state["totals"], state["refund_totals"] = {}, {}
            state["number"], state["last_amount"] = 0, "0.00"
            self._journal({"kind": "z", "number": state["z_number"], "daily": str(daily)})
            return [*self._base(), ("zRepNumber", f"{state['z_number']:04d}"),
                    ("dailyAmount", _comma(daily))]
        self._journal({"kind": "x", "daily": str(daily)})
        return [*self._base(), ("zRepNumber", f"{state['z_number'] + 1:04d}"),
                ("dailyAmount", _comma(daily))]

    def _command(self, command: ET.Element) -> Info:
        tag, state = _local(command.tag), self.state
        if tag == "queryPrinterStatus":
            return self._base("74")
        if tag == "resetPrinter":
            state["open_document"] = False
            return self._base("74")
        if tag == "displayText":
            state["display"] = command.get("data", "")
            return self._base("74")
        if tag == "openDrawer":
            return self._base("74")
        if tag != "directIO":
            raise Refusal("EPTR_INVALID_COMMAND", f"{tag} is not simulated")
        code, data = command.get("command", ""), command.get("data", "")
        if code == self.counters_command:
            cents = int(Decimal(state["last_amount"]) * 100)
            response = f"{state['z_number'] + 1:04d}{state['number']:04d}{cents:09d}"
        elif code == self.totals_command:
            department = data[-2:].lstrip("0")
            if department not in state["departments"]:
                raise Refusal("EPTR_SYNTAX", f"department {data!r}")
            sold = int(Decimal(state["totals"].get(department, "0")) * 100)
            refunded = int(Decimal(state["refund_totals"].get(department, "0")) * 100)
            response = f"{int(department):02d}{sold:012d}{refunded:012d}"
        else:
            raise Refusal("EPTR_INVALID_COMMAND", f"directIO {code} is not simulated")
        return [*self._base("74"), ("responseCommand", code), ("responseData", response)]

    def _journal(self, entry: dict[str, Any]) -> None:
        state = self.state
        entry = {"document": f"{state['z_number'] + 1:04d}-{state['number']:04d}",
                 "at": self.clock().isoformat(), **entry}
        state["journal"] = [*state["journal"], entry][-JOURNAL_KEEP:]

    def receipts(self) -> list[dict[str, Any]]:
        """The fiscal documents in the journal (for tests and the demo)."""
        return [e for e in self.state["journal"] if e["kind"] in ("sale", "refund")]

