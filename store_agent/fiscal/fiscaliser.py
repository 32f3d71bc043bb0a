"""Exactly-once fiscalisation: every sale gets one fiscal receipt, never two, never none.

A sale that needs a receipt is committed together with its fiscal job (state ``pending``)
in the same SQLite transaction as the sale and its outbox entry, so it is durable before
the first byte goes to the device. Before the first byte the job records the device's
document counter (``doc_before``) and becomes ``printing``; every step the device confirms
is journalled in the job. After any failure (crash, power loss, lost answer, paper out)
the job is finished by *recovery*, never by blind replay:

===========================================  ==============================================
device, compared with the job                decision
===========================================  ==============================================
no receipt open, counter == doc_before       never printed: print it
no receipt open, counter == doc_before + 1,  printed (the crash came after the close):
amount and payment match                     record it
no receipt open, counter == doc_before + 1,  the open receipt was cancelled (by us, before
nothing tendered                             a crash, or by the operator): print it again
a receipt open, consistent with the sale     finish it: the lines and payments missing
                                             (also after paper out: never cancelled)
anything else                                blocked: the operator must look (the message
                                             says what was found)
===========================================  ==============================================

Jobs are handled one at a time in sale order under one lock (one process owns the port);
a new sale is refused while an earlier one is not fiscalised, so the till cannot run ahead
of the printer. Z reports are reconciled per VAT group against the jobs they cover.

Why one file of ~430 lines: the exactly-once state machine (queue, recovery after a crash,
operator resolution, Z-report reconciliation) is one idea whose parts share the same lock
and journal rows; splitting it would spread one invariant over several files.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rules.money import round_money
from store_agent.fiscal.device import (
    ZERO,
    DeviceUnavailable,
    FiscalDevice,
    FiscalError,
    FiscalLine,
    FiscalReceipt,
    Payment,
    PaymentMethod,
    ReceiptResult,
    ReceiptStep,
    ReportTotals,
)
from store_agent.sqlite_store import LocalStore
from store_agent.sync import outbox

log = logging.getLogger(__name__)

PAYMENT_METHODS = {"cash": PaymentMethod.CASH, "card": PaymentMethod.CARD,
                   "cheque": PaymentMethod.CHEQUE, "credit": PaymentMethod.CREDIT,
                   "other": PaymentMethod.CREDIT}
NAME_WIDTH = 36  # the narrowest line of the supported devices


class FiscalNotReady(FiscalError):
    """An earlier sale is not fiscalised yet: no new sale until the printer is fixed."""


class VatNotMapped(FiscalError):
    """A sale line's VAT rate has no VAT group on the device (checked before committing)."""


@dataclass(frozen=True)
class FiscalState:
    sale_uuid: str
    state: str  # pending | printing | done | blocked
    document_number: int | None
    receipt_number: int | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "document_number": self.document_number,
                "receipt_number": self.receipt_number, "error": self.error}


@dataclass(frozen=True)
class Reconciliation:
    z: ReportTotals
    expected: Mapping[str, Decimal]
    mismatches: Mapping[str, tuple[Decimal, Decimal]]
    jobs: int

    @property
    def ok(self) -> bool:
        return not self.mismatches


# -- receipts from sales ---------------------------------------------------------------------

def receipt_from_sale(sale: Mapping[str, Any], groups: Mapping[Decimal, str],
                      texts: Sequence[str] = ()) -> FiscalReceipt:
    """The fiscal receipt of a priced sale; the device's VAT group for each rate; ``texts``
    printed inside the receipt after the lines (the footer head office set)."""
    lines = []
    for line in sale["lines"]:
        rate = Decimal(line["vat_rate"]).quantize(Decimal("0.01"))
        group = groups.get(rate)
        if group is None:
            raise VatNotMapped(f"VAT rate {rate}% of {line['sku']} has no VAT group on the "
                               f"fiscal device (it has {_rates(groups)})")
        qty, unit = Decimal(line["qty"]), Decimal(line["unit_price"])
        gross = round_money(qty * unit)
        amount = Decimal(line["amount"])
        lines.append(FiscalLine(name=str(line.get("name") or line["sku"])[:NAME_WIDTH],
                                quantity=qty, unit_price=unit, vat_group=group,
                                discount=max(gross - amount, ZERO)))
    total = sum((line.total for line in lines), ZERO)
    payments = [Payment(PAYMENT_METHODS.get(p["method"], PaymentMethod.CASH),
                        Decimal(p["amount"])) for p in sale.get("payments") or []
                if Decimal(p["amount"]) > 0]
    if sum((p.amount for p in payments), ZERO) < total:
        # A sale recorded without tenders (or short by rounding): the rest is cash.
        payments.append(Payment(PaymentMethod.CASH,
                                total - sum((p.amount for p in payments), ZERO)))
    return FiscalReceipt(tuple(lines), tuple(payments), tuple(texts))


def _rates(groups: Mapping[Decimal, str]) -> str:
    return ", ".join(f"{g}={r}%" for r, g in sorted(groups.items(), key=lambda i: i[1])) \
        or "none"


def receipt_to_json(receipt: FiscalReceipt) -> str:
    return json.dumps({
        "lines": [{"name": x.name, "quantity": str(x.quantity), "unit_price": str(x.unit_price),
                   "vat_group": x.vat_group, "discount": str(x.discount)}
                  for x in receipt.lines],
        "payments": [{"method": p.method.value, "amount": str(p.amount)}
                     for p in receipt.payments],
        "texts": list(receipt.texts)})


def receipt_from_json(text: str) -> FiscalReceipt:
    data = json.loads(text)
    return FiscalReceipt(
        tuple(FiscalLine(x["name"], Decimal(x["quantity"]), Decimal(x["unit_price"]),
                         x["vat_group"], Decimal(x["discount"])) for x in data["lines"]),
        tuple(Payment(PaymentMethod(p["method"]), Decimal(p["amount"]))
              for p in data["payments"]),
        tuple(data.get("texts") or ()))


# -- the fiscaliser --------------------------------------------------------------------------

class Fiscaliser:
    """Owns the device: turns committed sales into exactly one fiscal receipt each."""

    def __init__(self, store: LocalStore, device: FiscalDevice,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.store = store
        self.device = device
        self.clock = clock
        self.lock = threading.RLock()
        self._groups: dict[Decimal, str] | None = None
        self._serial: str | None = None

    # -- the till's side ---------------------------------------------------------------------

    def vat_groups(self) -> dict[Decimal, str]:
        """Rate -> group, read from the device once (VAT rates are never written)."""
        if self._groups is None:
            rates = self.device.read_vat_rates()
            groups: dict[Decimal, str] = {}
            for group, rate in sorted(rates.items()):
                groups.setdefault(Decimal(rate).quantize(Decimal("0.01")), group)
            self._groups = groups
        return self._groups

    def prepare(self, sale: Mapping[str, Any], texts: Sequence[str] = ()) -> str:
        """The job's receipt for a priced sale; raises VatNotMapped before anything is
        written."""
        return receipt_to_json(receipt_from_sale(sale, self.vat_groups(), texts))

    @staticmethod
    def enqueue(conn: sqlite3.Connection, sale_uuid: str, receipt_json: str,
                now: dt.datetime) -> None:
        """Add the job inside the sale's own transaction."""
        conn.execute("INSERT INTO fiscal_jobs (sale_uuid, receipt, state, created_at) "
                     "VALUES (?, ?, 'pending', ?)", (sale_uuid, receipt_json, now.isoformat()))

    def ensure_ready(self) -> None:
        """Finish every earlier job; raise FiscalNotReady if one cannot be finished."""
        with self.lock:
            try:
                self.vat_groups()
            except FiscalError as exc:
                raise FiscalNotReady(f"cannot read the printer's VAT rates: {exc}") from exc
            for seq in self._unfinished():
                state = self.run_job(seq)
                if state.state != "done":
                    raise FiscalNotReady(f"sale {state.sale_uuid} has no fiscal receipt yet: "
                                         f"{state.error or state.state}; fix the printer, "
                                         "the next sale waits for it")

    def fiscalise(self, sale_uuid: str) -> FiscalState:
        """Fiscalise this sale, after any earlier sale still without a receipt (in order)."""
        with self.lock:
            row = self._job_by_uuid(sale_uuid)
            if row is None:
                raise KeyError(sale_uuid)
            for seq in self._unfinished():
                if seq > int(row["seq"]):
                    break
                state = self.run_job(seq)
                if state.state != "done":
                    break
            return _state(self._job(int(row["seq"])))

    # -- the operator's word, when recovery cannot decide --------------------------------------

    def resolve_printed(self, sale_uuid: str, document_number: int,
                        receipt_number: int | None = None) -> FiscalState:
        """The operator found the sale's receipt in the device's journal: record it."""
        with self.lock:
            row = self._unfinished_job(sale_uuid)
            self._step(int(row["seq"]), f"operator: printed as document {document_number}")
            self._done(int(row["seq"]), sale_uuid,
                       ReceiptResult(sale_uuid, document_number, receipt_number or 0,
                                     receipt_from_json(row["receipt"]).total))
            return _state(self._job(int(row["seq"])))

    def resolve_not_printed(self, sale_uuid: str) -> FiscalState:
        """The operator checked that the sale has no receipt: print it afresh (the device's
        counter as it stands now becomes the reference)."""
        with self.lock:
            row = self._unfinished_job(sale_uuid)
            if self.device.transaction_state().open:
                raise FiscalError("a receipt is open on the device: finish or cancel it first")
            seq = int(row["seq"])
            self._step(seq, "operator: not printed")
            self._update(seq, state="pending", doc_before=None, error=None)
            return self.run_job(seq)

    def _unfinished_job(self, sale_uuid: str) -> sqlite3.Row:
        row = self._job_by_uuid(sale_uuid)
        if row is None:
            raise FiscalError(f"no fiscal job for sale {sale_uuid}")
        if row["state"] == "done":
            raise FiscalError(f"sale {sale_uuid} already has its receipt "
                              f"(document {row['document_number']})")
        return row

    def state_of(self, sale_uuid: str) -> FiscalState | None:
        row = self._job_by_uuid(sale_uuid)
        return None if row is None else _state(row)

    def pending(self) -> list[FiscalState]:
        with self.store.read() as conn:
            return [_state(r) for r in conn.execute(
                "SELECT * FROM fiscal_jobs WHERE state != 'done' ORDER BY seq")]

    # -- one job -----------------------------------------------------------------------------

    def run_job(self, seq: int) -> FiscalState:
        with self.lock:
            row = self._job(seq)
            if row["state"] == "done":
                return _state(row)
            receipt = receipt_from_json(row["receipt"])
            self._update(seq, attempts=int(row["attempts"]) + 1)
            result: ReceiptResult | None
            try:
                if row["doc_before"] is None:
                    result = self._first_print(seq, row["sale_uuid"], receipt)
                else:
                    result = self._recover(seq, row, receipt)
            except DeviceUnavailable as exc:
                log.warning("fiscal job %s: device unavailable: %s", row["sale_uuid"], exc)
                self._update(seq, error=f"printer not answering: {exc}")
                return _state(self._job(seq))
            except _Blocked as exc:
                log.error("fiscal job %s blocked: %s", row["sale_uuid"], exc)
                self._update(seq, state="blocked", error=str(exc))
                return _state(self._job(seq))
            except FiscalError as exc:
                log.warning("fiscal job %s: %s", row["sale_uuid"], exc)
                self._update(seq, error=str(exc))
                return _state(self._job(seq))
            if result is not None:
                self._done(seq, str(row["sale_uuid"]), result)
            return _state(self._job(seq))

    def _done(self, seq: int, sale_uuid: str, result: ReceiptResult) -> None:
        """Mark the job done and, in the same transaction, queue the fiscal receipt for
        head office (a ``fiscal`` outbox entry after the sale's own)."""
        clock = self.clock()
        now = clock.isoformat()
        body = {"sale": sale_uuid, "document_number": result.document_number,
                "receipt_number": result.receipt_number or None,
                "device": self._device_serial(), "fiscalised_at": now}
        with self.store.write() as conn:
            conn.execute("UPDATE fiscal_jobs SET state = 'done', document_number = ?, "
                         "receipt_number = ?, error = NULL, done_at = ? WHERE seq = ?",
                         (result.document_number, result.receipt_number or None, now, seq))
            outbox.append(conn, "fiscal", f"fiscal:{sale_uuid}", body, clock)

    def _device_serial(self) -> str | None:
        if self._serial is None:
            try:
                self._serial = self.device.info().serial[:64]
            except FiscalError:
                return None  # asked again next time
        return self._serial

    def _first_print(self, seq: int, sale_uuid: str, receipt: FiscalReceipt) -> ReceiptResult:
        tx = self.device.transaction_state()
        if tx.open:
            raise _Blocked("a receipt that no sale of this agent started is open on the "
                           "printer: finish or cancel it on the device, then retry")
        before = self.device.last_document().number
        # Durable before the first byte of the receipt goes out.
        self._update(seq, state="printing", doc_before=before)
        return self.device.print_receipt(receipt, sale_uuid, self._progress(seq))

    def _recover(self, seq: int, row: sqlite3.Row,
                 receipt: FiscalReceipt) -> ReceiptResult | None:
        sale_uuid = str(row["sale_uuid"])
        before = int(row["doc_before"])
        tx = self.device.transaction_state()
        last = self.device.last_document().number
        if tx.open:
            if tx.items > len(receipt.lines) or tx.amount > receipt.total:
                raise _Blocked(f"the open receipt ({tx.items} lines, {tx.amount}) is not "
                               f"this sale's ({len(receipt.lines)} lines, {receipt.total})")
            self._step(seq, "resumed")
            return self.device.resume_receipt(receipt, sale_uuid, self._progress(seq))
        moved = last - before
        if moved == 0:
            self._step(seq, "reprinted: never reached the printer")
            return self.device.print_receipt(receipt, sale_uuid, self._progress(seq))
        if moved == 1 and tx.amount == receipt.total and tx.tendered >= receipt.total:
            self._step(seq, "recorded: printed before the crash")
            return ReceiptResult(sale_uuid, last, 0, tx.amount)
        if moved == 1 and tx.tendered == 0:
            self._step(seq, "reprinted: the open receipt had been cancelled")
            self._update(seq, doc_before=last)
            return self.device.print_receipt(receipt, sale_uuid, self._progress(seq))
        raise _Blocked(f"the printer's document counter moved by {moved} since this sale "
                       f"started (last receipt {tx.amount}, tendered {tx.tendered}; this "
                       f"sale {receipt.total}): check the printer's journal")

    # -- Z report ----------------------------------------------------------------------------

    def z_report(self) -> Reconciliation:
        """Run the device's Z report and reconcile it with the receipts it covers."""
        with self.lock:
            self.ensure_ready()
            z = self.device.z_report()
            with self.store.write() as conn:
                rows = conn.execute("SELECT seq, receipt FROM fiscal_jobs WHERE state = "
                                    "'done' AND z_number IS NULL").fetchall()
                expected: dict[str, Decimal] = {}
                for row in rows:
                    for line in receipt_from_json(row["receipt"]).lines:
                        expected[line.vat_group] = expected.get(line.vat_group, ZERO) + \
                            line.total
                groups = set(expected) | {g for g, v in z.totals.items() if v}
                mismatches = {g: (z.totals.get(g, ZERO), expected.get(g, ZERO))
                              for g in sorted(groups)
                              if z.totals.get(g, ZERO) != expected.get(g, ZERO)}
                conn.execute("UPDATE fiscal_jobs SET z_number = ? WHERE state = 'done' AND "
                             "z_number IS NULL", (z.number,))
                conn.execute(
                    "INSERT OR REPLACE INTO fiscal_z_reports (number, device, expected, "
                    "mismatches, jobs, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (z.number, json.dumps({g: str(v) for g, v in z.totals.items()}),
                     json.dumps({g: str(v) for g, v in expected.items()}),
                     json.dumps({g: [str(a), str(b)] for g, (a, b) in mismatches.items()}),
                     len(rows), self.clock().isoformat()))
            if mismatches:
                log.error("Z report %d does not match the sales: %s", z.number, mismatches)
            return Reconciliation(z, expected, mismatches, len(rows))

    # -- journal of the job ------------------------------------------------------------------

    def _progress(self, seq: int) -> Callable[[ReceiptStep, int], None]:
        def progress(step: ReceiptStep, index: int) -> None:
            self._step(seq, f"{step.value} {index}")
        return progress

    def _step(self, seq: int, text: str) -> None:
        with self.store.write() as conn:
            steps = json.loads(conn.execute("SELECT steps FROM fiscal_jobs WHERE seq = ?",
                                            (seq,)).fetchone()[0])
            steps.append(text)
            conn.execute("UPDATE fiscal_jobs SET steps = ? WHERE seq = ?",
                         (json.dumps(steps), seq))

    def _update(self, seq: int, **values: Any) -> None:
        columns = ", ".join(f"{name} = ?" for name in values)
        with self.store.write() as conn:
            conn.execute(f"UPDATE fiscal_jobs SET {columns} WHERE seq = ?",  # noqa: S608
                         (*values.values(), seq))

    def _job(self, seq: int) -> sqlite3.Row:
        with self.store.read() as conn:
            row: sqlite3.Row = conn.execute("SELECT * FROM fiscal_jobs WHERE seq = ?",
                                            (seq,)).fetchone()
        return row

    def _job_by_uuid(self, sale_uuid: str) -> sqlite3.Row | None:
        with self.store.read() as conn:
            row: sqlite3.Row | None = conn.execute(
                "SELECT * FROM fiscal_jobs WHERE sale_uuid = ?", (sale_uuid,)).fetchone()
        return row

    def _unfinished(self) -> list[int]:
        with self.store.read() as conn:
            return [int(r[0]) for r in conn.execute(
                "SELECT seq FROM fiscal_jobs WHERE state != 'done' ORDER BY seq")]


class _Blocked(FiscalError):
    """Recovery cannot decide safely: an operator must look at the device."""


def _state(row: sqlite3.Row) -> FiscalState:
    return FiscalState(str(row["sale_uuid"]), str(row["state"]), row["document_number"],
                       row["receipt_number"], row["error"])
