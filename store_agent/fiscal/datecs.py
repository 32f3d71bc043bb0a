"""The Datecs fiscal printer driver (1-byte and X dialects) behind :class:`FiscalDevice`.

A receipt follows ErpNet.FP's sequence: status -> 48 open -> 49 per line -> 54 texts ->
53 payments -> 56 close -> 113 document number. Each confirmed step is reported to the
caller's ``progress`` callback. A rejected step leaves the receipt open (paper-out is not a
reason to cancel); :meth:`DatecsDevice.resume_receipt` finishes it from what the device
says it holds (76 transaction status).
"""

from __future__ import annotations

import logging
import textwrap
from datetime import UTC, datetime, tzinfo
from decimal import Decimal

from store_agent.fiscal.datecs_codec import Dialect, decode_status
from store_agent.fiscal.datecs_link import Link, SerialTransport, TcpTransport, Transport
from store_agent.fiscal.datecs_syntax import (
    CLOCK_FORMAT,
    PAY_BYTE,
    PAY_X,
    PRINTING,
    REFUND_REASON,
    REFUND_TIME_BYTE,
    TAX_X,
    Cmd,
    XError,
    decimal,
    join,
    money,
    quantity,
    split,
)
from store_agent.fiscal.device import (
    COMMAND_ERRORS,
    VAT_GROUPS,
    ZERO,
    CommandRejected,
    DeviceInfo,
    DeviceStatus,
    DeviceUnavailable,
    DocRef,
    FiscalLine,
    FiscalReceipt,
    PaperOut,
    Payment,
    PaymentMethod,
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

DISPLAY_WIDTH = 20


def _notify(progress: Progress | None, step: ReceiptStep, index: int) -> None:
    if progress is not None:
        progress(step, index)


class DatecsDevice:
    """One Datecs printer. Not thread-safe: one owner per port, commands in series."""

    capabilities = frozenset({"plu", "vat_read", "display", "duplicate", "refund"})

    def __init__(self, link: Link, *, tz: tzinfo = UTC, operator: str = "1",
                 password: str = "0000", till: str = "1", encoding: str = "cp1251",
                 line_width: int = 42) -> None:
        self.link, self.tz = link, tz
        self.operator, self.password, self.till = operator, password, till
        self.encoding, self.line_width = encoding, line_width
        self.last_status: DeviceStatus | None = None

    @property
    def dialect(self) -> Dialect:
        return self.link.dialect

    # -- one command -----------------------------------------------------------------------

    def _call(self, cmd: Cmd, *params: str) -> list[str]:
        text = join(self.dialect, *params) if params else ""
        answer = self.link.request(cmd, text.encode(self.encoding, "replace"))
        assert answer.status is not None
        status = decode_status(self.dialect, answer.status)
        self.last_status = status
        code, fields = split(self.dialect, answer.data.decode(self.encoding, "replace"))
        failed_data = self.dialect is Dialect.BYTE and fields[:1] == ["F"]
        refused = (code not in (None, 0) or bool(COMMAND_ERRORS & status.flags) or failed_data
                   or (cmd in PRINTING and not status.can_print))
        if refused:
            raise self._rejection(cmd, status, code)
        return fields

    def _rejection(self, cmd: Cmd, status: DeviceStatus, code: int | None) -> CommandRejected:
        reasons = list(status.errors)
        if code is not None and code in XError._value2member_map_:
            # The code says why; of the flags only the lasting conditions add to it.
            lasting = status.flags - COMMAND_ERRORS
            reasons = [XError(code).message,
                       *(f.message for f in StatusFlag if f in lasting and f.severity.value
                         == "error" and f is not StatusFlag.GENERAL_ERROR)]
        reason = "; ".join(dict.fromkeys(reasons)) or "refused"
        paper = status.paper_out or code == XError.PAPER_END
        kind = PaperOut if paper else CommandRejected
        return kind(int(cmd), reason, status, code or None)

    # -- state -------------------------------------------------------------------------------

    def info(self) -> DeviceInfo:
        fields = self._call(Cmd.INFO)
        if self.dialect is Dialect.BYTE:
            fields = [*fields, "", "", "", "", ""]
            return DeviceInfo(fields[0], fields[1], fields[4], fields[5], self.dialect.value)
        fields = [*fields, *[""] * 8]
        return DeviceInfo(fields[0], " ".join(f for f in fields[1:4] if f), fields[6],
                          fields[7], self.dialect.value)

    def status(self) -> DeviceStatus:
        self._call(Cmd.STATUS)
        assert self.last_status is not None
        return self.last_status

    def transaction_state(self) -> TxState:
        fields = self._call(Cmd.TX_STATUS, *(["T"] if self.dialect is Dialect.BYTE else []))
        if len(fields) < 4:
            raise DeviceUnavailable(f"transaction status: unexpected answer {fields}")
        return TxState(open=fields[0] != "0", items=int(fields[1]),
                       amount=decimal(fields[2]), tendered=decimal(fields[3]))

    def last_document(self) -> DocRef:
        fields = self._call(Cmd.LAST_DOC)
        return DocRef(int(fields[0]))

    # -- receipts ----------------------------------------------------------------------------

    def _ready(self, command: Cmd) -> None:
        status = self.status()
        if status.receipt_open or status.nonfiscal_open:
            raise ReceiptOpen("a receipt is open on the device: run recovery first")
        if not status.can_print:
            raise self._rejection(command, status, None)

    def print_receipt(self, receipt: FiscalReceipt, sale_id: str,
                      progress: Progress | None = None) -> ReceiptResult:
        self._ready(Cmd.OPEN)
        log.info("sale %s: opening a fiscal receipt", sale_id)
        self._call(Cmd.OPEN, *self._open_params())
        _notify(progress, ReceiptStep.OPENED, 1)
        return self._finish(receipt.lines, receipt.payments, receipt.texts, sale_id,
                            TxState(True, 0, ZERO, ZERO), progress)

    def resume_receipt(self, receipt: FiscalReceipt, sale_id: str,
                       progress: Progress | None = None) -> ReceiptResult:
        return self._resume(receipt.lines, receipt.payments, receipt.texts, sale_id, progress)

    def _resume(self, lines: tuple[FiscalLine, ...], payments: tuple[Payment, ...],
                texts: tuple[str, ...], sale_id: str,
                progress: Progress | None) -> ReceiptResult:
        tx = self.transaction_state()
        if not tx.open:
            raise RecoveryConflict("no receipt is open on the device")
        sold = sum((line.total for line in lines[:tx.items]), ZERO)
        if tx.items > len(lines) or tx.amount != sold or (tx.tendered and tx.items < len(lines)):
            raise RecoveryConflict(f"the open receipt ({tx.items} lines, {tx.amount}) is not "
                                   f"the first lines of sale {sale_id}")
        log.info("sale %s: resuming the open receipt after line %d, %s tendered",
                 sale_id, tx.items, tx.tendered)
        return self._finish(lines, payments, texts, sale_id, tx, progress)

    def _open_params(self) -> list[str]:
        if self.dialect is Dialect.BYTE:
            return [self.operator, self.password, self.till]
        return [self.operator, self.password, "", self.till, ""]

    def _finish(self, lines: tuple[FiscalLine, ...], payments: tuple[Payment, ...],
                texts: tuple[str, ...], sale_id: str, tx: TxState,
                progress: Progress | None) -> ReceiptResult:
        if not tx.tendered:
            for index, line in enumerate(lines[tx.items:], start=tx.items + 1):
                self._call(Cmd.SALE, *self._sale_params(line))
                _notify(progress, ReceiptStep.LINE, index)
            if tx.items < len(lines):
                for index, text in enumerate(texts, start=1):
                    self._call(Cmd.TEXT, *self._text_params(text))
                    _notify(progress, ReceiptStep.TEXT, index)
        total = sum((line.total for line in lines), ZERO)
        tendered = tx.tendered
        skip = tx.tendered          # what earlier payments of this list already covered
        for index, payment in enumerate(payments, start=1):
            if tendered >= total:
                break
            covered = min(skip, payment.amount)
            skip -= covered
            amount = payment.amount - covered
            if not amount:
                continue
            code, _rest = self._pay(payment.method, amount)
            tendered += amount
            _notify(progress, ReceiptStep.PAID, index)
            if code == "R":
                break
        fields = self._call(Cmd.CLOSE)
        receipt_number = int(fields[-1]) if fields and fields[-1].isdigit() else 0
        _notify(progress, ReceiptStep.CLOSED, 1)
        document = self.last_document()
        log.info("sale %s: fiscal receipt %d (document %d) closed", sale_id, receipt_number,
                 document.number)
        return ReceiptResult(sale_id, document.number, receipt_number, total)

    def _sale_params(self, line: FiscalLine) -> list[str]:
        name = line.name.replace("\t", " ").replace(",", " ")[:self.line_width]
        if self.dialect is Dialect.BYTE:
            item = f"{name}\t{line.vat_group}{money(line.unit_price)}*{quantity(line.quantity)}"
            if line.discount:
                item += f";-{money(line.discount)}"
            return [item]
        disc_type, disc_value = ("4", money(line.discount)) if line.discount else ("0", "")
        return [name, TAX_X[line.vat_group], money(line.unit_price), quantity(line.quantity),
                disc_type, disc_value, "0"]

    def _text_params(self, text: str) -> list[str]:
        text = text.replace("\t", " ")[:self.line_width]
        return [text] if self.dialect is Dialect.BYTE else [text, "0", "0", "0", "0", "0"]

    def _pay(self, method: PaymentMethod, amount: Decimal) -> tuple[str, Decimal]:
        if self.dialect is Dialect.BYTE:
            fields = self._call(Cmd.PAYMENT, f"\t{PAY_BYTE[method]}{money(amount)}")
            answer = fields[0] if fields else "D0"
            return answer[:1], decimal(answer[1:] or "0")
        fields = self._call(Cmd.PAYMENT, PAY_X[method], money(amount))
        return (fields[0], decimal(fields[1])) if len(fields) > 1 else ("D", ZERO)

    def cancel_open_receipt(self) -> None:
        self._call(Cmd.CANCEL)

    def print_refund(self, refund: RefundReceipt, sale_id: str) -> ReceiptResult:
        self._ready(Cmd.OPEN)
        reason = REFUND_REASON[refund.reason.value]
        moment = refund.original_time.astimezone(self.tz)
        if self.dialect is Dialect.BYTE:
            self._call(Cmd.REFUND_OPEN_BYTE, self.operator, self.password, "", self.till,
                       reason, str(refund.original_number),
                       moment.strftime(REFUND_TIME_BYTE), refund.fiscal_memory)
        else:
            self._call(Cmd.REFUND_OPEN_X, self.operator, self.password, self.till, reason,
                       str(refund.original_number), moment.strftime(CLOCK_FORMAT),
                       refund.fiscal_memory, "", "", "", "")
        return self._finish(refund.lines, refund.payments, (), sale_id,
                            TxState(True, 0, ZERO, ZERO), None)

    def print_duplicate(self) -> None:
        self._call(Cmd.DUPLICATE, *(["1"] if self.dialect is Dialect.BYTE else []))

    def print_nonfiscal(self, lines: list[str]) -> None:
        self._ready(Cmd.NONFISCAL_OPEN)
        self._call(Cmd.NONFISCAL_OPEN)
        for line in lines:
            for part in textwrap.wrap(line.replace("\t", " "), self.line_width) or [""]:
                self._call(Cmd.NONFISCAL_TEXT, part)
        self._call(Cmd.NONFISCAL_CLOSE)

    # -- reports -----------------------------------------------------------------------------

    def _report(self, kind: str) -> ReportTotals:
        code = {"Z": "0", "X": "2"}[kind] if self.dialect is Dialect.BYTE else kind
        fields = self._call(Cmd.REPORT, code)
        values = [decimal(f) if f else ZERO for f in fields[1:]]
        totals = dict(zip(VAT_GROUPS, values[:8], strict=False))
        refunds = dict(zip(VAT_GROUPS, values[8:16], strict=False))
        return ReportTotals(int(fields[0]), totals, refunds)

    def x_report(self) -> ReportTotals:
        return self._report("X")

    def z_report(self) -> ReportTotals:
        return self._report("Z")

    # -- clock, VAT, PLU, display ------------------------------------------------------------

    def get_clock(self) -> datetime:
        fields = self._call(Cmd.READ_CLOCK)
        local = datetime.strptime(fields[0].strip(), CLOCK_FORMAT).replace(tzinfo=self.tz)
        return local.astimezone(UTC)

    def set_clock(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the clock is set from an aware datetime")
        self._call(Cmd.SET_CLOCK, moment.astimezone(self.tz).strftime(CLOCK_FORMAT))

    def read_vat_rates(self) -> dict[str, Decimal]:
        if self.dialect is Dialect.BYTE:
            fields = self._call(Cmd.VAT_BYTE)
            mask, rates = fields[2], fields[3:]
            return {group: decimal(rate) for group, enabled, rate
                    in zip(VAT_GROUPS, mask, rates, strict=False) if enabled == "1"}
        fields = self._call(Cmd.VAT_X)
        return {group: decimal(rate) for group, rate in zip(VAT_GROUPS, fields, strict=False)
                if rate.strip()}

    def sync_plu(self, items: list[Plu]) -> SyncReport:
        """Program articles; refusals (turnover, open receipt) are reported, not raised."""
        status = self.status()
        if status.receipt_open:
            raise ReceiptOpen("PLUs are programmed outside open receipts")
        programmed: list[int] = []
        refused: list[tuple[int, str]] = []
        for plu in items:
            name = plu.name.replace("\t", " ").replace(",", " ")[:32]
            if self.dialect is Dialect.BYTE:
                params = [f"P{plu.vat_group}{plu.number}", str(plu.group), money(plu.price),
                          "0", name]
            else:
                params = ["P", str(plu.number), TAX_X[plu.vat_group], "0", str(plu.group), "0",
                          money(plu.price), "", "0", "", "", "", "", name]
            try:
                self._call(Cmd.PLU, *params)
            except CommandRejected as exc:
                refused.append((plu.number, exc.reason))
            else:
                programmed.append(plu.number)
        return SyncReport(tuple(programmed), tuple(refused))

    def display(self, upper: str, lower: str = "") -> None:
        self._call(Cmd.DISPLAY_CLEAR)
        if upper:
            self._call(Cmd.DISPLAY_UPPER, upper[:DISPLAY_WIDTH])
        if lower:
            self._call(Cmd.DISPLAY_LOWER, lower[:DISPLAY_WIDTH])

    def close(self) -> None:
        self.link.transport.close()


def detect_dialect(transport: Transport, *, answer_timeout: float = 0.5,
                   rounds: int = 2) -> Link:
    """Try command 90 in the X framing, then in the 1-byte one; return the link that works.

    A device of the other dialect NAKs or ignores a frame it cannot parse.
    """
    for _ in range(rounds):
        for dialect in (Dialect.X, Dialect.BYTE):
            link = Link(transport, dialect, answer_timeout=answer_timeout, max_writes=2)
            try:
                answer = link.request(Cmd.INFO)
            except DeviceUnavailable:
                continue
            if answer.cmd == Cmd.INFO:
                return link
    raise DeviceUnavailable(f"{transport.describe()}: no Datecs device answers in either "
                            "dialect")


def open_transport(kind: str, address: str, baudrate: int = 115200) -> Transport:
    """``tcp`` with ``host:port`` or ``serial`` with a device path (or pyserial URL)."""
    if kind == "tcp":
        host, _, port = address.rpartition(":")
        return TcpTransport(host, int(port))
    if kind == "serial":
        return SerialTransport(address, baudrate)
    raise ValueError(f"unknown printer transport {kind!r}")


def connect(transport: Transport, dialect: str = "auto", *, tz: tzinfo = UTC,
            answer_timeout: float = 0.5, max_writes: int = 6) -> DatecsDevice:
    """A driver on ``transport``; ``dialect`` is ``byte``, ``x`` or ``auto`` (detect)."""
    if dialect == "auto":
        link = detect_dialect(transport, answer_timeout=answer_timeout)
        link.max_writes = max_writes
    else:
        link = Link(transport, Dialect(dialect), answer_timeout=answer_timeout,
                    max_writes=max_writes)
    return DatecsDevice(link, tz=tz)


__all__ = ["DatecsDevice", "StatusFlag", "connect", "detect_dialect", "open_transport"]
