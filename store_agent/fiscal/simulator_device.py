"""The simulated Datecs device's memory: receipts, counters, totals, Z records, PLUs, clock.

Dialect-neutral: :mod:`store_agent.fiscal.simulator` parses frames and calls these
operations. The whole state is one JSON document rewritten atomically (temporary file,
fsync, rename, fsync of the directory) after every command, together with the last SEQ and
its answer, so a process killed at any instant restarts exactly where the device was: an
open receipt stays open, and a repeated SEQ gets the answer it was going to get.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from rules.money import round_money
from store_agent.fiscal.datecs_syntax import XError
from store_agent.fiscal.device import VAT_GROUPS, ZERO, StatusFlag
from store_agent.fiscal.sim_files import write_state

STATE_FILE = "state.json"
JOURNAL_KEEP = 500
DEFAULT_VAT = {"A": "0.00", "B": "20.00", "C": "9.00", "D": "5.00"}


class Refusal(Exception):
    """The command is refused; the device state is left as it was."""

    def __init__(self, kind: XError, message: str = "") -> None:
        self.kind = kind
        super().__init__(message or kind.message)


def _d(value: object) -> Decimal:
    return Decimal(str(value))


def _s(value: Decimal) -> str:
    return f"{value:.2f}"


def _zero_totals() -> dict[str, str]:
    return {group: "0.00" for group in VAT_GROUPS}


def initial_state(family: str, model: str,
                  vat: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "family": family, "dialect": "x" if family == "x" else "byte", "model": model,
        "firmware": "1.00BG", "serial": "DT000600",
        "fiscal_memory": "02000600", "clock_offset": 0.0, "last_record_at": None,
        "documents": 0, "fiscal_receipts": 0, "z_number": 0,
        "day_documents": 0, "day_fiscal": 0, "day_refunds": 0, "dst": False,
        "receipt": None,
        "last_receipt": {"number": 0, "items": 0, "amount": "0.00", "tendered": "0.00"},
        "totals": _zero_totals(), "refund_totals": _zero_totals(), "z_records": [],
        "plu": {}, "vat": dict(vat or DEFAULT_VAT), "paper_out": False, "cover_open": False,
        "duplicate_done": True, "display": ["", ""], "journal": [],
        "last_seq": None, "last_answer": None,
    }


class SimDevice:
    """Operations of the device on its state; every refusal leaves the state untouched."""

    def __init__(self, directory: Path, family: str, model: str,
                 vat: dict[str, str] | None = None) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / STATE_FILE
        if path.exists():
            self.state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        else:
            self.state = initial_state(family, model, vat)  # a new device's VAT table
            self.save()
        for key in ("day_documents", "day_fiscal", "day_refunds"):
            self.state.setdefault(key, 0)     # a state written before these counters
        self._snapshot: dict[str, Any] | None = None

    # -- persistence ---------------------------------------------------------------------

    def save(self) -> None:
        write_state(self.directory / STATE_FILE, self.state)

    def begin(self) -> None:
        self._snapshot = copy.deepcopy(self.state)

    def rollback(self) -> None:
        if self._snapshot is not None:
            self.state = self._snapshot
        self._snapshot = None

    # -- status ----------------------------------------------------------------------------

    def flags(self) -> set[StatusFlag]:
        found = {StatusFlag.FISCALISED, StatusFlag.VAT_RATES_SET}
        receipt = self.state["receipt"]
        if receipt is not None:
            found.add(StatusFlag.NONFISCAL_OPEN if receipt["kind"] == "nonfiscal"
                      else StatusFlag.RECEIPT_OPEN)
            if receipt["kind"] == "refund":
                found.add(StatusFlag.REFUND_OPEN)
        if self.state["paper_out"]:
            found.add(StatusFlag.PAPER_OUT)
        if self.state["cover_open"]:
            found.add(StatusFlag.COVER_OPEN)
        return found

    def printing(self) -> None:
        """Guard of every command that prints."""
        if self.state["paper_out"]:
            raise Refusal(XError.PAPER_END)
        if self.state["cover_open"]:
            raise Refusal(XError.COVER_OPEN)

    # -- clock -----------------------------------------------------------------------------

    def now(self) -> datetime:
        """Device wall time (naive, as the device shows it)."""
        moment = datetime.now(UTC) + timedelta(seconds=self.state["clock_offset"])
        return moment.replace(tzinfo=None, microsecond=0)

    def set_clock(self, moment: datetime) -> None:
        if self.state["receipt"] is not None:
            raise Refusal(XError.NOT_ALLOWED, "a receipt is open")
        last = self.state["last_record_at"]
        if last and moment < datetime.fromisoformat(last):
            raise Refusal(XError.CLOCK_BEFORE_LAST_RECORD)
        real = datetime.now(UTC).replace(tzinfo=None)
        self.state["clock_offset"] = (moment - real).total_seconds()

    # -- receipts --------------------------------------------------------------------------

    def _receipt(self, kind: str | None = None) -> dict[str, Any]:
        receipt = self.state["receipt"]
        if receipt is None or (kind and receipt["kind"] != kind) or (
                kind is None and receipt["kind"] == "nonfiscal"):
            raise Refusal(XError.NOT_ALLOWED, "no such receipt is open")
        result: dict[str, Any] = receipt
        return result

    def open_receipt(self, kind: str, origin: dict[str, str] | None = None) -> tuple[int, int]:
        if self.state["receipt"] is not None:
            raise Refusal(XError.NOT_ALLOWED, "a receipt is already open")
        self.printing()
        self.state["documents"] += 1
        self.state["day_documents"] += 1
        if kind != "nonfiscal":
            self.state["fiscal_receipts"] += 1
            self.state["day_refunds" if kind == "refund" else "day_fiscal"] += 1
        self.state["receipt"] = {
            "kind": kind, "document": self.state["documents"],
            "number": self.state["fiscal_receipts"], "lines": [], "texts": [],
            "payments": [], "amount": "0.00", "tendered": "0.00",
            "groups": _zero_totals(), "origin": origin or {}, "opened_at": self.now().isoformat()}
        return self.state["documents"], self.state["fiscal_receipts"]

    def sell(self, name: str, group: str, price: Decimal, quantity: Decimal,
             discount: Decimal) -> None:
        receipt = self._receipt()
        if receipt["payments"]:
            raise Refusal(XError.NOT_ALLOWED, "payment started: no more sales")
        if group not in VAT_GROUPS or group not in self.state["vat"]:
            raise Refusal(XError.SYNTAX, f"tax group {group!r} is not enabled")
        if quantity <= 0 or price < 0 or discount < 0:
            raise Refusal(XError.SYNTAX, "bad price or quantity")
        self.printing()
        amount = round_money(round_money(price * quantity) - discount)
        receipt["lines"].append({"name": name, "group": group, "price": _s(price),
                                 "quantity": str(quantity), "discount": _s(discount),
                                 "amount": _s(amount)})
        receipt["amount"] = _s(_d(receipt["amount"]) + amount)
        receipt["groups"][group] = _s(_d(receipt["groups"][group]) + amount)

    def text(self, text: str) -> None:
        receipt = self.state["receipt"]
        if receipt is None:
            raise Refusal(XError.NOT_ALLOWED, "no receipt is open")
        self.printing()
        receipt["texts"].append(text)

    def pay(self, method: str, amount: Decimal | None) -> tuple[str, Decimal]:
        receipt = self._receipt()
        if not receipt["lines"]:
            raise Refusal(XError.NOT_ALLOWED, "nothing sold yet")
        self.printing()
        due = _d(receipt["amount"]) - _d(receipt["tendered"])
        if due <= 0:
            raise Refusal(XError.NOT_ALLOWED, "already paid")
        paid = due if amount is None else amount
        if paid <= 0:
            raise Refusal(XError.SYNTAX, "bad amount")
        receipt["payments"].append({"method": method, "amount": _s(paid)})
        receipt["tendered"] = _s(_d(receipt["tendered"]) + paid)
        rest = _d(receipt["amount"]) - _d(receipt["tendered"])
        return ("D", rest) if rest > 0 else ("R", -rest)

    def close_receipt(self) -> tuple[int, int]:
        receipt = self._receipt()
        if not receipt["lines"] or _d(receipt["tendered"]) < _d(receipt["amount"]):
            raise Refusal(XError.NOT_PAID)
        self.printing()
        target = "refund_totals" if receipt["kind"] == "refund" else "totals"
        for group, value in receipt["groups"].items():
            self.state[target][group] = _s(_d(self.state[target][group]) + _d(value))
        self._finish(receipt, "closed")
        return receipt["document"], receipt["number"]

    def cancel_receipt(self) -> None:
        receipt = self._receipt()
        if receipt["payments"]:
            raise Refusal(XError.NOT_ALLOWED, "cannot cancel after a payment")
        self.printing()
        self._finish(receipt, "cancelled")

    def _finish(self, receipt: dict[str, Any], outcome: str) -> None:
        self.state["last_receipt"] = {"number": receipt["document"],
                                      "items": len(receipt["lines"]),
                                      "amount": receipt["amount"],
                                      "tendered": receipt["tendered"]}
        self.state["receipt"] = None
        self.state["duplicate_done"] = False
        self._journal({**receipt, "outcome": outcome, "closed_at": self.now().isoformat()})

    def _journal(self, document: dict[str, Any]) -> None:
        self.state["journal"] = [*self.state["journal"], document][-JOURNAL_KEEP:]

    def tx_status(self) -> tuple[bool, int, Decimal, Decimal]:
        receipt = self.state["receipt"]
        if receipt is not None and receipt["kind"] != "nonfiscal":
            return True, len(receipt["lines"]), _d(receipt["amount"]), _d(receipt["tendered"])
        last = self.state["last_receipt"]
        return False, int(last["items"]), _d(last["amount"]), _d(last["tendered"])

    def current_or_last_number(self) -> int:
        """The document number of the open fiscal receipt, or of the last one."""
        receipt = self.state["receipt"]
        if receipt is not None and receipt["kind"] != "nonfiscal":
            return int(receipt["document"])
        return int(self.state["last_receipt"].get("number", 0))

    def nonfiscal_text(self, text: str) -> None:
        self._receipt("nonfiscal")
        self.text(text)

    def nonfiscal_close(self) -> int:
        receipt = self._receipt("nonfiscal")
        self.printing()
        self.state["receipt"] = None
        self._journal({**receipt, "outcome": "closed", "closed_at": self.now().isoformat()})
        return int(receipt["document"])

    def duplicate(self) -> None:
        if self.state["receipt"] is not None or self.state["duplicate_done"]:
            raise Refusal(XError.NOT_ALLOWED, "no receipt to duplicate")
        self.printing()
        self.state["duplicate_done"] = True
        self.state["documents"] += 1
        self._journal({"kind": "duplicate", "document": self.state["documents"],
                       "closed_at": self.now().isoformat()})

    # -- reports ---------------------------------------------------------------------------

    def report(self, zero: bool) -> tuple[int, dict[str, Decimal], dict[str, Decimal]]:
        if self.state["receipt"] is not None:
            raise Refusal(XError.NOT_ALLOWED, "a receipt is open")
        self.printing()
        totals = {g: _d(v) for g, v in self.state["totals"].items()}
        refunds = {g: _d(v) for g, v in self.state["refund_totals"].items()}
        self.state["documents"] += 1
        if not zero:
            return self.state["z_number"] + 1, totals, refunds
        self.state["z_number"] += 1
        self.state["day_documents"] = self.state["day_fiscal"] = self.state["day_refunds"] = 0
        at = self.now().isoformat()
        self.state["z_records"].append({
            "number": self.state["z_number"], "at": at, "document": self.state["documents"],
            "totals": self.state["totals"], "refund_totals": self.state["refund_totals"]})
        self.state["last_record_at"] = at
        self.state["totals"], self.state["refund_totals"] = _zero_totals(), _zero_totals()
        for plu in self.state["plu"].values():
            plu["turnover"] = "0.00"
        return self.state["z_number"], totals, refunds

    # -- PLU -------------------------------------------------------------------------------

    def program_plu(self, number: int, group: str, price: Decimal, name: str,
                    department: int) -> None:
        if group not in VAT_GROUPS or not name or price < 0 or number <= 0:
            raise Refusal(XError.SYNTAX, "bad PLU")
        key = str(number)
        current = self.state["plu"].get(key)
        if current is not None:
            receipt = self.state["receipt"]
            in_receipt = receipt is not None and any(
                line.get("plu") == number for line in receipt["lines"])
            if in_receipt and _d(current["price"]) != price:
                raise Refusal(XError.NOT_ALLOWED, "PLU is in the open receipt")
            if _d(current["turnover"]) and (current["group"], current["name"]) != (group, name):
                raise Refusal(XError.PLU_HAS_TURNOVER)
        self.state["plu"][key] = {"group": group, "price": _s(price), "name": name,
                                  "department": department,
                                  "turnover": current["turnover"] if current else "0.00"}

    def delete_plu(self, number: int) -> None:
        current = self.state["plu"].get(str(number))
        if current is None:
            raise Refusal(XError.UNKNOWN_PLU)
        if _d(current["turnover"]):
            raise Refusal(XError.PLU_HAS_TURNOVER)
        del self.state["plu"][str(number)]

    def sell_plu(self, number: int, quantity: Decimal) -> None:
        plu = self.state["plu"].get(str(number))
        if plu is None:
            raise Refusal(XError.UNKNOWN_PLU)
        price = _d(plu["price"])
        self.sell(plu["name"], plu["group"], price, quantity, ZERO)
        self._receipt()["lines"][-1]["plu"] = number
        plu["turnover"] = _s(_d(plu["turnover"]) + round_money(price * quantity))
