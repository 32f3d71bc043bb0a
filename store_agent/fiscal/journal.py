"""A software fiscal journal: the fiscal device of countries without fiscal printers.

Every step of every document is one line of an append-only JSON-lines file, written and
fsynced before the step counts as done. Each record carries the SHA-256 of the record before
it, so editing, removing or reordering any record breaks the chain from there on, which
``verify`` (``tessera agent journal verify``) reports with the record number. The journal
behaves like a fiscal printer towards the agent (the same :class:`FiscalDevice` interface):
a document counter that moves when a document opens, a receipt counter that moves when one
closes, an open receipt that survives a crash, totals per VAT group and Z reports.

A record is ``{"n", "prev", "at", "kind", "data", "hash"}`` where ``hash`` is the SHA-256 of
``prev`` and the canonical JSON of the other fields. A torn last line (a crash in the middle
of a write) never counted: it is cut off when the journal is opened, and reported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from store_agent.fiscal.device import (
    VAT_GROUPS,
    ZERO,
    CommandRejected,
    DeviceInfo,
    DeviceStatus,
    DocRef,
    FiscalError,
    FiscalReceipt,
    Plu,
    Progress,
    ReceiptOpen,
    ReceiptResult,
    ReceiptStep,
    RecoveryConflict,
    RefundReceipt,
    ReportTotals,
    StatusFlag,
    SyncReport,
    TxState,
)

log = logging.getLogger(__name__)

GENESIS = "0" * 64
DEFAULT_VAT = {"A": Decimal("19.00"), "B": Decimal("9.00"), "C": Decimal("5.00"),
               "D": Decimal("0.00")}


def _canonical(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def record_hash(prev: str, body: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev.encode() + _canonical(body)).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    records: int
    ok: bool
    problem: str = ""
    torn_tail: bool = False
    last_hash: str = GENESIS


def verify(path: Path) -> VerifyResult:
    """Check the whole chain; the first broken record is named."""
    prev, count = GENESIS, 0
    if not path.exists():
        return VerifyResult(0, True)
    lines = path.read_bytes().split(b"\n")
    torn = lines[-1] != b""
    for number, raw in enumerate(lines[:-1], start=1):
        try:
            record = json.loads(raw)
            claimed = record.pop("hash")
        except (ValueError, KeyError, AttributeError):
            return VerifyResult(count, False, f"record {number} is not a journal record")
        if record.get("n") != number:
            return VerifyResult(count, False, f"record {number} is numbered {record.get('n')}"
                                ": records were removed or reordered")
        if record.get("prev") != prev:
            return VerifyResult(count, False, f"record {number} does not follow record "
                                f"{number - 1}: the chain is broken")
        if record_hash(prev, record) != claimed:
            return VerifyResult(count, False, f"record {number} was altered "
                                "(its hash does not match its content)")
        prev, count = claimed, number
    return VerifyResult(count, True, "a torn last write was never completed" if torn else "",
                        torn_tail=torn, last_hash=prev)


@dataclass
class _Open:
    document: int
    sale_id: str
    kind: str  # "sale" | "refund"
    lines: list[dict[str, str]] = field(default_factory=list)
    paid: Decimal = ZERO

    @property
    def amount(self) -> Decimal:
        return sum((Decimal(line["total"]) for line in self.lines), ZERO)


@dataclass
class _State:
    """What the records say, rebuilt by replaying them."""

    document: int = 0
    receipt: int = 0
    z_number: int = 0
    open: _Open | None = None
    last_amount: Decimal = ZERO
    last_items: int = 0
    last_paid: Decimal = ZERO
    totals: dict[str, Decimal] = field(default_factory=dict)
    refunds: dict[str, Decimal] = field(default_factory=dict)
    plu: dict[int, dict[str, str]] = field(default_factory=dict)

    def apply(self, kind: str, data: Mapping[str, Any]) -> None:
        if kind == "open":
            self.document = int(data["document"])
            self.open = _Open(self.document, str(data["sale_id"]), str(data["type"]))
        elif kind == "line":
            assert self.open is not None
            self.open.lines.append(dict(data))
        elif kind == "payment":
            assert self.open is not None
            self.open.paid += Decimal(data["amount"])
        elif kind == "close":
            assert self.open is not None
            self.receipt = int(data["receipt"])
            target = self.refunds if self.open.kind == "refund" else self.totals
            for line in self.open.lines:
                group = line["vat_group"]
                target[group] = target.get(group, ZERO) + Decimal(line["total"])
            self._last(self.open)
            self.open = None
        elif kind == "cancel":
            assert self.open is not None
            self._last(self.open)
            self.open = None
        elif kind in ("nonfiscal", "z"):
            self.document = int(data["document"])
            if kind == "z":
                self.z_number = int(data["number"])
                self.totals, self.refunds = {}, {}
        elif kind == "plu":
            self.plu[int(data["number"])] = dict(data)

    def _last(self, receipt: _Open) -> None:
        self.last_amount, self.last_items = receipt.amount, len(receipt.lines)
        self.last_paid = receipt.paid


class SoftwareJournal:
    """A :class:`~store_agent.fiscal.device.FiscalDevice` kept in a hash-chained file."""

    capabilities = frozenset({"plu", "vat_read", "refund", "duplicate"})

    def __init__(self, path: Path, serial: str = "SWJ-0001",
                 vat_rates: Mapping[str, Decimal] | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.path = path
        self.serial = serial
        self.vat_rates = dict(vat_rates or DEFAULT_VAT)
        for group in self.vat_rates:
            if group not in VAT_GROUPS:
                raise ValueError(f"VAT group must be one of {''.join(VAT_GROUPS)}: {group!r}")
        self.clock = clock
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        self.state = _State()
        self._prev, self._count = GENESIS, 0
        for record in self.records():
            self.state.apply(record["kind"], record["data"])
            self._prev, self._count = record["hash"], record["n"]

    # -- the file ------------------------------------------------------------------------

    def _repair(self) -> None:
        result = verify(self.path)
        if not result.ok:
            raise FiscalError(f"fiscal journal {self.path} fails verification: "
                              f"{result.problem}")
        if result.torn_tail:
            data = self.path.read_bytes()
            keep = data[:data.rfind(b"\n") + 1]
            log.warning("fiscal journal %s: cutting a torn last write (%d bytes) that never "
                        "completed", self.path, len(data) - len(keep))
            with open(self.path, "r+b") as handle:
                handle.truncate(len(keep))
                handle.flush()
                os.fsync(handle.fileno())

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            for raw in handle:
                if raw.endswith(b"\n"):
                    yield json.loads(raw)

    def _append(self, kind: str, data: Mapping[str, Any]) -> None:
        body: dict[str, Any] = {"n": self._count + 1, "prev": self._prev,
                "at": self.clock().astimezone(dt.UTC).isoformat(), "kind": kind,
                "data": dict(data)}
        digest = record_hash(self._prev, body)
        line = _canonical({**body, "hash": digest}) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.state.apply(kind, data)
        self._prev, self._count = digest, self._count + 1

    # -- the device interface ------------------------------------------------------------

    def info(self) -> DeviceInfo:
        return DeviceInfo(model="software journal", firmware="1", serial=self.serial,
                          fiscal_memory=self.serial, dialect="journal")

    def status(self) -> DeviceStatus:
        flags = {StatusFlag.FISCALISED, StatusFlag.VAT_RATES_SET}
        if self.state.open is not None:
            flags.add(StatusFlag.REFUND_OPEN if self.state.open.kind == "refund"
                      else StatusFlag.RECEIPT_OPEN)
        return DeviceStatus(frozenset(flags))

    def transaction_state(self) -> TxState:
        with self._lock:
            current = self.state.open
            if current is not None:
                return TxState(True, len(current.lines), current.amount, current.paid)
            return TxState(False, self.state.last_items, self.state.last_amount,
                           self.state.last_paid)

    def last_document(self) -> DocRef:
        return DocRef(self.state.document, self.state.z_number)

    def open_sale_id(self) -> str | None:
        """The sale of the open receipt (a journal knows it; a printer does not)."""
        return None if self.state.open is None else self.state.open.sale_id

    def print_receipt(self, receipt: FiscalReceipt, sale_id: str,
                      progress: Progress | None = None) -> ReceiptResult:
        with self._lock:
            if self.state.open is not None:
                raise ReceiptOpen(f"receipt {self.state.open.document} is open")
            self._check_groups(receipt)
            self._append("open", {"document": self.state.document + 1, "sale_id": sale_id,
                                  "type": "sale"})
            _report(progress, ReceiptStep.OPENED, 1)
            return self._finish(receipt, sale_id, progress)

    def resume_receipt(self, receipt: FiscalReceipt, sale_id: str,
                       progress: Progress | None = None) -> ReceiptResult:
        with self._lock:
            current = self.state.open
            if current is None:
                raise RecoveryConflict("no receipt is open")
            if current.sale_id != sale_id or len(current.lines) > len(receipt.lines):
                raise RecoveryConflict(f"the open receipt belongs to sale {current.sale_id}")
            return self._finish(receipt, sale_id, progress)

    def _finish(self, receipt: FiscalReceipt, sale_id: str,
                progress: Progress | None) -> ReceiptResult:
        current = self.state.open
        assert current is not None
        for index, line in enumerate(receipt.lines, start=1):
            if index <= len(current.lines):
                continue
            self._append("line", {"name": line.name, "quantity": str(line.quantity),
                                  "unit_price": str(line.unit_price),
                                  "discount": str(line.discount),
                                  "vat_group": line.vat_group, "total": str(line.total)})
            _report(progress, ReceiptStep.LINE, index)
        for index, text in enumerate(receipt.texts, start=1):
            _report(progress, ReceiptStep.TEXT, index)
            del text  # printed on paper only; the journal keeps the fiscal content
        due = current.amount - current.paid
        for index, payment in enumerate(receipt.payments, start=1):
            if due <= 0:
                break
            amount = min(payment.amount, due)  # change is given back, not journalled
            self._append("payment", {"method": payment.method.value, "amount": str(amount)})
            due -= amount
            _report(progress, ReceiptStep.PAID, index)
        document = current.document
        self._append("close", {"receipt": self.state.receipt + 1, "sale_id": sale_id})
        _report(progress, ReceiptStep.CLOSED, 1)
        return ReceiptResult(sale_id, document, self.state.receipt, self.state.last_amount)

    def cancel_open_receipt(self) -> None:
        with self._lock:
            current = self.state.open
            if current is None:
                return
            if current.paid > 0:
                raise CommandRejected(0x3C, "a payment was made: the receipt cannot be "
                                      "cancelled, only finished", self.status())
            self._append("cancel", {"document": current.document})

    def print_refund(self, refund: RefundReceipt, sale_id: str) -> ReceiptResult:
        with self._lock:
            if self.state.open is not None:
                raise ReceiptOpen(f"receipt {self.state.open.document} is open")
            receipt = FiscalReceipt(refund.lines, refund.payments)
            self._check_groups(receipt)
            self._append("open", {"document": self.state.document + 1, "sale_id": sale_id,
                                  "type": "refund", "original": refund.original_number,
                                  "reason": refund.reason.value})
            return self._finish(receipt, sale_id, None)

    def print_duplicate(self) -> None:
        with self._lock:
            self._append("nonfiscal", {"document": self.state.document + 1,
                                       "text": [f"DUPLICATE of receipt {self.state.receipt}"]})

    def print_nonfiscal(self, lines: list[str]) -> None:
        with self._lock:
            if self.state.open is not None:
                raise ReceiptOpen("a fiscal receipt is open")
            self._append("nonfiscal", {"document": self.state.document + 1,
                                       "text": list(lines)})

    def x_report(self) -> ReportTotals:
        return ReportTotals(self.state.z_number + 1, dict(self.state.totals),
                            dict(self.state.refunds))

    def z_report(self) -> ReportTotals:
        with self._lock:
            if self.state.open is not None:
                raise ReceiptOpen("close or cancel the open receipt before the Z report")
            totals = ReportTotals(self.state.z_number + 1, dict(self.state.totals),
                                  dict(self.state.refunds))
            self._append("z", {"document": self.state.document + 1, "number": totals.number,
                               "totals": {k: str(v) for k, v in totals.totals.items()},
                               "refunds": {k: str(v) for k, v in
                                           totals.refund_totals.items()}})
            return totals

    def get_clock(self) -> dt.datetime:
        return self.clock()

    def set_clock(self, moment: dt.datetime) -> None:
        raise CommandRejected(0x3D, "the software journal uses the system clock (NTP)",
                              self.status())

    def read_vat_rates(self) -> dict[str, Decimal]:
        return dict(self.vat_rates)

    def sync_plu(self, items: list[Plu]) -> SyncReport:
        with self._lock:
            programmed = []
            for item in items:
                wanted = {"number": str(item.number), "name": item.name,
                          "price": str(item.price), "vat_group": item.vat_group}
                if self.state.plu.get(item.number) != wanted:
                    self._append("plu", wanted)
                programmed.append(item.number)
            return SyncReport(tuple(programmed), ())

    def display(self, upper: str, lower: str = "") -> None:
        return None

    def close(self) -> None:
        return None

    def _check_groups(self, receipt: FiscalReceipt) -> None:
        for line in receipt.lines:
            if line.vat_group not in self.vat_rates:
                raise CommandRejected(0x31, f"VAT group {line.vat_group} is not set",
                                      self.status())


def _report(progress: Progress | None, step: ReceiptStep, index: int) -> None:
    if progress is not None:
        progress(step, index)
