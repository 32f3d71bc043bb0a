"""The Datecs fiscal device driver behind :class:`FiscalDevice`, for the three families.

The device's name in command 90 decides the family (:mod:`.datecs_family`): the X devices
(FP-700X ...), the fiscal printers (FP-550/2000/800 ...) or the cash registers (DP-05/25/35,
WP-50, DP-150). Each command is laid out as that family's manual says, and a command the
manual does not list is never sent (docs/fiscal-datecs.md has the references).

A receipt: status -> 48 open -> 49 per line -> 54 texts -> 53 payments -> 56 close; the
1-byte families then read the document number with 113, the X devices take it from the
close answer (the X manual has no 113). Each confirmed step is reported to the caller's
``progress`` callback. A rejected step leaves the receipt open (paper-out is not a reason to
cancel); :meth:`DatecsDevice.resume_receipt` finishes it from what the device says it holds
(76 transaction status).

Why one file of ~570 lines: it is one device protocol (the command set of the three Datecs
families and the receipt state machine over it); framing, syntax and the family tables are
already their own modules (``datecs_codec``, ``datecs_syntax``, ``datecs_family``).
"""

from __future__ import annotations

import logging
import textwrap
from datetime import UTC, datetime, tzinfo
from decimal import Decimal

from store_agent.fiscal.datecs_codec import Dialect, decode_status
from store_agent.fiscal.datecs_family import (
    MANUAL_COMMANDS,
    PAYMENT_CODES,
    REFUND_REASONS,
    Family,
    Model,
    UnsupportedModel,
    model_of,
    plu_tax_code,
    signed_amount,
    tax_code,
)
from store_agent.fiscal.datecs_link import Link, SerialTransport, TcpTransport, Transport
from store_agent.fiscal.datecs_syntax import (
    CLOCK_FORMAT,
    PRINTING,
    STORNO_TIME_BYTE,
    X_DST,
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
    FiscalError,
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
DISABLED_RATE = Decimal("100.00")
"""X manual 50 (p. 10): a tax group of 100.00 is disabled."""
BASE_CAPABILITIES = frozenset({"plu", "vat_read", "duplicate", "refund"})
IDENTIFY = frozenset({Cmd.STATUS, Cmd.INFO})
"""What may be sent before the model (and so the family) is known: in every manual."""


def _notify(progress: Progress | None, step: ReceiptStep, index: int) -> None:
    if progress is not None:
        progress(step, index)


def _clean(text: str, width: int, dialect: Dialect) -> str:
    """No TAB or line feed (separators in both dialects), no comma in the 1-byte one."""
    text = text.replace("\t", " ").replace("\n", " ")
    return (text.replace(",", " ") if dialect is Dialect.BYTE else text)[:width]


class DatecsDevice:
    """One Datecs device. Not thread-safe: one owner per port, commands in series."""

    def __init__(self, link: Link, *, tz: tzinfo = UTC, operator: str = "1",
                 password: str = "0000", till: str = "1", encoding: str = "cp1251",
                 model: Model | None = None) -> None:
        self.link, self.tz = link, tz
        self.operator, self.password, self.till = operator, password, till
        self.encoding = encoding
        self.last_status: DeviceStatus | None = None
        self.model: Model | None = None
        self.capabilities = BASE_CAPABILITIES
        self._info: DeviceInfo | None = None
        if model is not None:
            self._set_model(model)

    def _set_model(self, model: Model) -> None:
        self.model = model
        self.capabilities = BASE_CAPABILITIES | ({"display"} if model.display else set())

    @property
    def dialect(self) -> Dialect:
        return self.link.dialect

    @property
    def family(self) -> Family:
        return self._model().family

    def _model(self) -> Model:
        if self.model is None:
            self.identify()
        assert self.model is not None
        return self.model

    # -- one command -----------------------------------------------------------------------

    def _call(self, cmd: Cmd, *params: str) -> list[str]:
        family = self.model.family if self.model is not None else None
        if family is None and cmd not in IDENTIFY:
            family = self.family
        if family is not None and int(cmd) not in MANUAL_COMMANDS[family]:
            raise FiscalError(f"command {int(cmd)} is not in the manual of {family.label}")
        text = join(self.dialect, *params) if params else ""
        answer = self.link.request(cmd, text.encode(self.encoding, "replace"))
        assert answer.status is not None
        status = decode_status(self.dialect, answer.status,
                               family.value if family is not None else None)
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

    # -- identity --------------------------------------------------------------------------

    def identify(self) -> DeviceInfo:
        """Command 90: the model decides the family; a model no manual covers is refused."""
        if self.dialect is Dialect.X:
            # X manual 90 syntax 1 (p. 24): {Param}<SEP> answers ErrorCode, Name, FwRev,
            # FwDate, FwTime, Checksum, Sw, SerialNumber, FMNumber.
            fields = [*self._call(Cmd.INFO, ""), *[""] * 8]
            model, _rest = model_of(fields[0])
            firmware = " ".join(f for f in fields[1:4] if f)
            serial, memory = fields[6], fields[7]
        else:
            fields = self._call(Cmd.INFO, "0")
            if len(fields) >= 6:
                # Printers manual 90 (p. 29): Name,FwRev..,Chk,Sw,Ser,FM.
                model, _rest = model_of(fields[0])
                firmware, pair = fields[1], fields[4:6]
            elif len(fields) == 5:
                # Registers manual 90 (p. 22): <Name><FwRev> <FwDate> <FwTime>,Chk,Sw,FM,Ser.
                model, firmware = model_of(fields[0])
                pair = fields[3:5]
            else:
                raise UnsupportedModel(f"command 90: unexpected answer {fields}")
            # The serial is two letters and six digits, the fiscal memory eight digits: take
            # them by shape, the two manuals disagree on their order.
            serial = next((f for f in pair if any(c.isalpha() for c in f)), pair[-1])
            memory = next((f for f in pair if f != serial), "")
        if model.family.dialect is not self.dialect:
            raise UnsupportedModel(
                f"the device calls itself {model.name} ({model.family.label}) but answers in "
                f"the {self.dialect.value} framing")
        self._set_model(model)
        self._info = DeviceInfo(model.name, firmware.strip(), serial, memory,
                                self.dialect.value)
        return self._info

    def info(self) -> DeviceInfo:
        return self._info or self.identify()

    # -- state -------------------------------------------------------------------------------

    def status(self) -> DeviceStatus:
        self._call(Cmd.STATUS)
        assert self.last_status is not None
        return self.last_status

    def _tx(self) -> tuple[TxState, int | None]:
        if self.family is Family.X:
            # X manual 76 (p. 21): ErrorCode, IsOpen (0 closed, 1 sale, 2-4 storno), Number,
            # Items, Amount, Payed.
            fields = self._call(Cmd.TX_STATUS)
            if len(fields) < 5:
                raise DeviceUnavailable(f"transaction status: unexpected answer {fields}")
            return TxState(open=fields[0].strip() not in ("", "0"), items=int(fields[2]),
                           amount=decimal(fields[3]), tendered=decimal(fields[4])), \
                int(fields[1])
        # Printers 76 (p. 25) / registers 76 (p. 20): Open,Items,Amount[,Tender]; Open is 1
        # for a fiscal or a service receipt ("the exact type is indicated by the status").
        fields = self._call(Cmd.TX_STATUS, "T")
        if len(fields) < 3:
            raise DeviceUnavailable(f"transaction status: unexpected answer {fields}")
        assert self.last_status is not None
        fiscal_open = fields[0] == "1" and StatusFlag.RECEIPT_OPEN in self.last_status
        tendered = decimal(signed_amount(fields[3])) if len(fields) > 3 else ZERO
        return TxState(open=fiscal_open, items=int(fields[1]),
                       amount=decimal(signed_amount(fields[2])), tendered=tendered), None

    def transaction_state(self) -> TxState:
        return self._tx()[0]

    def last_document(self) -> DocRef:
        if self.family is Family.X:
            # No 113 in the X manual: 76 gives the number of the current or last receipt.
            _tx, number = self._tx()
            assert number is not None
            return DocRef(number)
        fields = self._call(Cmd.LAST_DOC)
        return DocRef(int(fields[0]))

    # -- receipts ----------------------------------------------------------------------------

    def _ready(self, command: Cmd) -> None:
        status = self.status()
        if status.receipt_open or status.nonfiscal_open:
            raise ReceiptOpen("a receipt is open on the device: run recovery first")
        if not status.can_print:
            raise self._rejection(command, status, None)

    def _check_payments(self, payments: tuple[Payment, ...]) -> None:
        codes = PAYMENT_CODES[self.family]
        for payment in payments:
            if payment.method not in codes:
                raise FiscalError(f"{self._model().name}: {self.family.label} take no "
                                  f"{payment.method.value} payments")

    def print_receipt(self, receipt: FiscalReceipt, sale_id: str,
                      progress: Progress | None = None) -> ReceiptResult:
        self._check_payments(receipt.payments)
        self._ready(Cmd.OPEN)
        log.info("sale %s: opening a fiscal receipt", sale_id)
        self._call(Cmd.OPEN, *self._open_params())
        _notify(progress, ReceiptStep.OPENED, 1)
        return self._finish(receipt.lines, receipt.payments, receipt.texts, sale_id,
                            TxState(True, 0, ZERO, ZERO), progress)

    def resume_receipt(self, receipt: FiscalReceipt, sale_id: str,
                       progress: Progress | None = None) -> ReceiptResult:
        self._check_payments(receipt.payments)
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
        if self.family is Family.X:
            # X manual 48 syntax 1 (p. 9): OpCode, OpPwd, TillNmb, Invoice (blank: a receipt).
            return [self.operator, self.password, self.till, ""]
        # Printers 48 (p. 16) <OpNum>,<Password>,<TillNum>; registers 48 syntax 2 (p. 10)
        # <OpCode>,<OpPwd>,<TillNmb>.
        return [self.operator, self.password, self.till]

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
            code = self._pay(payment.method, amount)
            tendered += amount
            _notify(progress, ReceiptStep.PAID, index)
            if code == "R":
                break
        fields = self._call(Cmd.CLOSE)
        if self.family is Family.X:
            # X manual 56 (p. 14): ErrorCode, SlipNumber: the document's number.
            receipt_number = document = int(fields[0])
        else:
            # 1-byte 56: Allreceipt,FiscReceipt (counted since the last Z); 113 the document.
            receipt_number = int(fields[-1]) if fields and fields[-1].isdigit() else 0
            document = self.last_document().number
        _notify(progress, ReceiptStep.CLOSED, 1)
        log.info("sale %s: fiscal receipt %d (document %d) closed", sale_id, receipt_number,
                 document)
        return ReceiptResult(sale_id, document, receipt_number, total)

    def _sale_params(self, line: FiscalLine) -> list[str]:
        model = self._model()
        name = _clean(line.name, model.item_name, self.dialect)
        code = tax_code(model.family, line.vat_group)
        if model.family is Family.X:
            # X manual 49 (p. 9): PluName, TaxCd 1-8, Price, Quantity, DiscountType,
            # DiscountValue (empty without a discount), Department.
            disc_type, disc_value = ("4", money(line.discount)) if line.discount else ("0", "")
            return [name, code, money(line.unit_price), quantity(line.quantity), disc_type,
                    disc_value, "0"]
        # Printers 49 (p. 17) / registers 49 (p. 11): <L1><Tab><TaxCd><Price>[*<Qwan>][;Abs].
        item = f"{name}\t{code}{money(line.unit_price)}*{quantity(line.quantity)}"
        if line.discount:
            item += f";-{money(line.discount)}"
        return [item]

    def _text_params(self, text: str) -> list[str]:
        text = _clean(text, self._model().text, self.dialect)
        return [text, "0", "0", "0", "0", "0"] if self.family is Family.X else [text]

    def _pay(self, method: PaymentMethod, amount: Decimal) -> str:
        code = PAYMENT_CODES[self.family][method]
        if self.family is Family.X:
            # X manual 53 (p. 11): PaidMode, Amount -> ErrorCode, Status D|R, Amount.
            fields = self._call(Cmd.PAYMENT, code, money(amount))
            return fields[0] if fields else "D"
        # 1-byte 53: [<Line1>]<Tab>[<PaidMode><Amount>] -> <PaidCode><Amount>.
        fields = self._call(Cmd.PAYMENT, f"\t{code}{money(amount)}")
        return fields[0][:1] if fields and fields[0] else "D"

    def cancel_open_receipt(self) -> None:
        self._call(Cmd.CANCEL)

    def print_refund(self, refund: RefundReceipt, sale_id: str) -> ReceiptResult:
        family = self.family
        self._check_payments(refund.payments)
        reason = REFUND_REASONS[family][refund.reason.value]
        moment = refund.original_time.astimezone(self.tz)
        number, memory, unp = str(refund.original_number), refund.fiscal_memory, \
            refund.original_unp
        if family is not Family.REGISTER and not unp:
            # X 43 (p. 7): NSale may be left out only for receipts the cashier printed, not a
            # PC program; printers 46 (p. 16): a refund with lines needs StUNP, StDT, StFMIN.
            raise FiscalError(f"a refund on {family.label} needs the unique sale number "
                              "(UNP) of the original receipt")
        self._ready(Cmd.OPEN)
        if family is Family.X:
            # X 43: OpCode, OpPwd, TillNmb, Storno, DocNum, DateTime, FMNumber, Invoice,
            # ToInvoice, Reason, NSale.
            self._call(Cmd.REFUND_OPEN_X, self.operator, self.password, self.till, reason,
                       number, self._x_time(moment), memory, "", "", "", unp)
        elif family is Family.PRINTER:
            # Printers 46 (p. 15-16): <OpNum>,<Password>,<TillNum>,<StType><DocNo>,<StUNP>,
            # <StDT>,<StFMIN>.
            self._call(Cmd.REFUND_OPEN_BYTE, self.operator, self.password, self.till,
                       f"{reason}{number}", unp, moment.strftime(STORNO_TIME_BYTE), memory)
        else:
            # Registers 46 (p. 10): <OpCode>,<OpPwd>,<NSale>,<TillNmb>,<DocType>,<DocNumber>,
            # <DocDateTime>,<FMNumber>; NSale empty for a receipt without one.
            self._call(Cmd.REFUND_OPEN_BYTE, self.operator, self.password, unp, self.till,
                       reason, number, moment.strftime(STORNO_TIME_BYTE), memory)
        return self._finish(refund.lines, refund.payments, (), sale_id,
                            TxState(True, 0, ZERO, ZERO), None)

    def print_duplicate(self) -> None:
        self._call(Cmd.DUPLICATE, *(["1"] if self.dialect is Dialect.BYTE else []))

    def print_nonfiscal(self, lines: list[str]) -> None:
        width = self._model().service_text
        self._ready(Cmd.NONFISCAL_OPEN)
        self._call(Cmd.NONFISCAL_OPEN)
        for line in lines:
            for part in textwrap.wrap(_clean(line, len(line), self.dialect), width) or [""]:
                self._call(Cmd.NONFISCAL_TEXT, part)
        self._call(Cmd.NONFISCAL_CLOSE)

    # -- reports -----------------------------------------------------------------------------

    def _report(self, kind: str) -> ReportTotals:
        if self.family is Family.X:
            # X 69 (p. 18-19): ErrorCode, nRep, TotA..TotH, StorA..StorH.
            fields = self._call(Cmd.REPORT, kind)
            values = [decimal(f) if f else ZERO for f in fields[1:]]
            totals = dict(zip(VAT_GROUPS, values[:8], strict=False))
            refunds = dict(zip(VAT_GROUPS, values[8:16], strict=False))
            return ReportTotals(int(fields[0]), totals, refunds)
        # 1-byte 69 (printers p. 23, registers p. 18): Closure,FM_Total,TotA..TotH.
        fields = self._call(Cmd.REPORT, {"Z": "0", "X": "2"}[kind])
        values = [decimal(signed_amount(f)) if f else ZERO for f in fields[2:10]]
        return ReportTotals(int(fields[0]), dict(zip(VAT_GROUPS, values, strict=False)), {})

    def x_report(self) -> ReportTotals:
        return self._report("X")

    def z_report(self) -> ReportTotals:
        return self._report("Z")

    # -- clock, VAT, PLU, display ------------------------------------------------------------

    def _x_time(self, local: datetime) -> str:
        return local.strftime(CLOCK_FORMAT) + (X_DST if local.dst() else "")

    def get_clock(self) -> datetime:
        fields = self._call(Cmd.READ_CLOCK)
        text = fields[0].strip()
        summer = text.endswith(X_DST.strip())
        if summer:
            text = text[:-len(X_DST.strip())].strip()
        local = datetime.strptime(text, CLOCK_FORMAT).replace(tzinfo=self.tz)
        if self.dialect is Dialect.X:
            # In the repeated hour of autumn the DST text tells which of the two it is.
            local = local.replace(fold=0 if summer else 1)
        return local.astimezone(UTC)

    def set_clock(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the clock is set from an aware datetime")
        local = moment.astimezone(self.tz)
        self._call(Cmd.SET_CLOCK, self._x_time(local) if self.dialect is Dialect.X
                   else local.strftime(CLOCK_FORMAT))

    def read_vat_rates(self) -> dict[str, Decimal]:
        if self.family is Family.X:
            # X 50 (p. 10): ErrorCode, nZreport, TaxA..TaxH, EntDate; 100.00 is disabled.
            fields = self._call(Cmd.VAT_X)
            rates = fields[1:9]
            return {group: decimal(rate) for group, rate in zip(VAT_GROUPS, rates, strict=False)
                    if rate.strip() and decimal(rate) != DISABLED_RATE}
        # 1-byte 83 without data (printers p. 26, registers p. 20):
        # Multiplier,Decimals,Currency_name,EnabledT,TaxA..TaxH.
        fields = self._call(Cmd.VAT_BYTE)
        if len(fields) < 5:
            raise DeviceUnavailable(f"VAT rates: unexpected answer {fields}")
        mask, rates = fields[3], fields[4:12]
        return {group: decimal(rate) for group, enabled, rate
                in zip(VAT_GROUPS, mask, rates, strict=False) if enabled == "1"}

    def sync_plu(self, items: list[Plu]) -> SyncReport:
        """Program articles; refusals (turnover, open receipt) are reported, not raised."""
        model = self._model()
        status = self.status()
        if status.receipt_open:
            raise ReceiptOpen("PLUs are programmed outside open receipts")
        programmed: list[int] = []
        refused: list[tuple[int, str]] = []
        for plu in items:
            name = _clean(plu.name, model.plu_name, self.dialect)
            letter = plu_tax_code(model.family, plu.vat_group)
            if not 1 <= plu.group <= model.plu_groups:
                refused.append((plu.number, f"stock group {plu.group} is outside 1-"
                                            f"{model.plu_groups} on {model.name}"))
                continue
            if model.family is Family.X:
                # X 107 'P' (p. 28): P, PLU, TaxGr (a letter), Dep, Group, PriceType, Price,
                # AddQty, Quantity, Bar1..Bar4, Name.
                params = ["P", str(plu.number), letter, "0", str(plu.group), "0",
                          money(plu.price), "", "0", "", "", "", "", name]
            else:
                # 1-byte 107 'P': P<TaxGr><PLU>,<Group>,<SPrice>,[A]<Quantity>,<Name>.
                params = [f"P{letter}{plu.number}", str(plu.group), money(plu.price), "0",
                          name]
            try:
                self._call(Cmd.PLU, *params)
            except CommandRejected as exc:
                refused.append((plu.number, exc.reason))
            else:
                programmed.append(plu.number)
        return SyncReport(tuple(programmed), tuple(refused))

    def display(self, upper: str, lower: str = "") -> None:
        if not self._model().display:
            raise FiscalError(f"{self._model().name} has no customer display")
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
    """A driver on ``transport``; ``dialect`` is ``byte``, ``x`` or ``auto`` (detect).

    Raises :class:`UnsupportedModel` when the device's model is in none of the manuals."""
    if dialect == "auto":
        link = detect_dialect(transport, answer_timeout=answer_timeout)
        link.max_writes = max_writes
    else:
        link = Link(transport, Family.parse(dialect).dialect, answer_timeout=answer_timeout,
                    max_writes=max_writes)
    device = DatecsDevice(link, tz=tz)
    device.identify()   # the model decides the family; an unknown one is refused here
    return device


__all__ = ["DatecsDevice", "StatusFlag", "UnsupportedModel", "connect", "detect_dialect",
           "open_transport"]
