"""The Italian RT fiscal printer driver (Epson FP-81II / FP-90III, fpmate XML over HTTP).

Requests are POSTed to ``/cgi-bin/fpmate.cgi`` (syntax in :mod:`.rt_xml`). Unlike Datecs,
an RT receipt is **one request**: begin, items (VAT bound to the *department*, reparto),
discounts, payments and end travel together and the printer prints all of it or nothing.
So there is no receipt left half-open by a crash of ours, ``progress`` reports every step
at once when the answer comes, and ``resume_receipt`` has nothing to resume. What can be
lost is the *answer*: the printer may have printed and the HTTP answer never arrived. Then
the call raises :class:`DeviceUnavailable` and recovery reads the counters.

Document counter. :meth:`RtDevice.last_document` derives the interface's monotonic counter
from the RT numbering "zzzz-nnnn": ``zRepNumber * 10000 + fiscalReceiptNumber`` (numbers
restart at 1 after each Z, at most 9999 a day). A Z between two reads makes it jump, which
the fiscaliser reports instead of guessing (it only runs a Z when no sale is pending).

Not confirmed (``fiscal-printers.md`` §9), so configurable in :class:`RtConfig`:

- ``counters_io``: the ``directIO`` command that reads the last document number, z number
  and amount. The default ``1070``/``01`` is an assumption. The answer is read from
  ``zRepNumber``/``fiscalReceiptNumber``/``fiscalReceiptAmount`` if present, else from
  ``responseData`` at ``layout`` (our assumed layout: zzzz nnnn amount-in-cents[9]).
- ``totals_io``: the ``directIO`` that reads a department's turnover since the last Z
  (default ``2050`` + department number, responseData dd + sales[12] + refunds[12] in
  cents), used for the per-VAT-group totals of X and Z reports. ``None`` leaves the totals
  empty (a Z then does not reconcile: the mismatch is reported, never hidden).
- ``cancel_open_receipt`` sends ``resetPrinter`` (used by Epson integrators to drop an
  open document); the clock, PLU and duplicate commands are not supported by this driver.
- Whether ``zRepNumber`` in a receipt answer is the period's next Z (what the simulator
  does) or the last one printed does not matter: only differences are used.

VAT rates are never written: departments are programmed on the printer by the technician;
``departments`` says which department sells which VAT group at which rate, and
:meth:`RtDevice.read_vat_rates` returns that mapping.

Why one file of ~420 lines: one driver (fpmate XML over HTTP); the XML building and parsing
is already ``rt_xml``.
"""

from __future__ import annotations

import http.client
import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from store_agent.fiscal import rt_xml
from store_agent.fiscal.device import (
    PRINT_BLOCKERS,
    VAT_GROUPS,
    ZERO,
    CommandRejected,
    DeviceInfo,
    DeviceStatus,
    DeviceUnavailable,
    DocRef,
    FiscalLine,
    FiscalReceipt,
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
from store_agent.fiscal.rt_xml import Answer, AnswerError, Layout, PaymentType

log = logging.getLogger(__name__)

PATH = "/cgi-bin/fpmate.cgi"
PER_PERIOD = 10000
DISPLAY_WIDTH = 20


@dataclass(frozen=True)
class Department:
    number: int
    group: str
    rate: Decimal

    def __post_init__(self) -> None:
        if self.group not in VAT_GROUPS:
            raise ValueError(f"department {self.number}: VAT group must be one of "
                             f"{''.join(VAT_GROUPS)}, not {self.group!r}")
        if not 1 <= self.number <= 99:
            raise ValueError(f"department {self.number}: must be 1..99")


DEFAULT_DEPARTMENTS = (Department(1, "A", Decimal("22.00")), Department(2, "B", Decimal("10.00")),
                       Department(3, "C", Decimal("5.00")), Department(4, "D", Decimal("4.00")))


@dataclass(frozen=True)
class DirectIO:
    command: str
    data: str


@dataclass(frozen=True)
class RtConfig:
    url: str
    """``http://host[:port]`` of the printer (the path is added)."""
    departments: tuple[Department, ...] = DEFAULT_DEPARTMENTS
    operator: str = "1"
    timeout: float = 10.0
    """Seconds to wait for an answer to a receipt or a query."""
    report_timeout: float = 60.0
    devid: str | None = None
    device_timeout_ms: int | None = None
    """Sent as ``?timeout=`` so fpmate gives up on the fiscal unit before we do."""
    counters_io: DirectIO = DirectIO("1070", "01")
    totals_io: DirectIO | None = DirectIO("2050", "")
    layout: Layout = Layout()
    payment_types: Mapping[PaymentMethod, PaymentType] = field(
        default_factory=lambda: dict(rt_xml.PAYMENT_TYPES))
    model: str = "Epson RT"
    serial: str = ""

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"RT printer URL must be http://host[:port], not {self.url!r}")
        if not self.departments:
            raise ValueError("at least one department (reparto) is needed")


class RtDevice:
    """One RT printer. Serialise calls (one owner), as for every fiscal device."""

    capabilities = frozenset({"vat_read", "display", "refund"})

    def __init__(self, config: RtConfig, *, tz: tzinfo = UTC) -> None:
        self.config, self.tz = config, tz
        parts = urlsplit(config.url)
        self._host, self._port = parts.hostname or "", parts.port or 80
        query = [f"devid={config.devid}"] if config.devid else []
        if config.device_timeout_ms:
            query.append(f"timeout={config.device_timeout_ms}")
        self._path = PATH + ("?" + "&".join(query) if query else "")
        self._by_group: dict[str, int] = {}
        for department in config.departments:
            self._by_group.setdefault(department.group, department.number)
        self.last_status: DeviceStatus | None = None

    # -- one request -------------------------------------------------------------------------

    def _post(self, body: ET.Element, timeout: float, what: str) -> Answer:
        conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        try:
            conn.request("POST", self._path, body=rt_xml.envelope(body),
                         headers={"Content-Type": "text/xml; charset=UTF-8",
                                  "SOAPAction": '""'})
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise DeviceUnavailable(f"{what}: no answer from {self.config.url} "
                                    f"({type(exc).__name__}: {exc})") from exc
        finally:
            conn.close()
        if response.status != 200:
            raise DeviceUnavailable(f"{what}: HTTP {response.status} from {self.config.url}")
        try:
            answer = rt_xml.parse_answer(data)
        except AnswerError as exc:
            raise DeviceUnavailable(f"{what}: unreadable answer: {exc}") from exc
        if answer.printer_status:
            self.last_status = rt_xml.decode_status(answer.printer_status)
        return answer

    def _call(self, body: ET.Element, what: str, timeout: float | None = None) -> Answer:
        answer = self._post(body, self.config.timeout if timeout is None else timeout, what)
        if not answer.success:
            raise rt_xml.failure(answer, what)
        return answer

    def direct_io(self, command: str, data: str) -> Answer:
        """A raw ``directIO`` (service use, and the counters below)."""
        return self._call(rt_xml.direct_io_request(command, data), f"directIO {command}")

    # -- state -------------------------------------------------------------------------------

    def info(self) -> DeviceInfo:
        return DeviceInfo(self.config.model, "", self.config.serial, self.config.serial,
                          "fpmate")

    def status(self) -> DeviceStatus:
        answer = self._call(rt_xml.status_request(self.config.operator), "queryPrinterStatus")
        if not answer.printer_status:
            raise DeviceUnavailable("queryPrinterStatus: the answer has no printerStatus")
        return rt_xml.decode_status(answer.printer_status)

    def counters(self) -> rt_xml.Counters:
        io = self.config.counters_io
        answer = self.direct_io(io.command, io.data)
        try:
            return rt_xml.counters(answer, self.config.layout)
        except AnswerError as exc:
            raise DeviceUnavailable(f"directIO {io.command}: {exc}") from exc

    def transaction_state(self) -> TxState:
        """RT keeps no half-done receipt of ours: when none is open this is the last one,
        fully paid (an RT receipt only closes paid). Lines are not counted by the device."""
        if self.status().receipt_open:
            return TxState(True, 0, ZERO, ZERO)
        last = self.counters()
        return TxState(False, 0, last.amount, last.amount)

    def last_document(self) -> DocRef:
        last = self.counters()
        return DocRef(document_number(last.z_number, last.number), last.z_number)

    # -- receipts ----------------------------------------------------------------------------

    def _ready(self, what: str) -> None:
        status = self.status()
        if status.receipt_open or status.nonfiscal_open:
            raise ReceiptOpen("a document is open on the RT printer: cancel it first")
        # Digit 3 ("offline: paper end or cover open") does not say which: the printer's
        # refusal of the document does (EPTR_REC_EMPTY is paper out).
        if PRINT_BLOCKERS & status.flags - {StatusFlag.PRINTER_FAULT}:
            raise CommandRejected(0, f"{what}: {'; '.join(status.errors)}", status)

    def _departments(self, lines: tuple[FiscalLine, ...]) -> dict[str, int]:
        missing = sorted({x.vat_group for x in lines} - set(self._by_group))
        if missing:
            raise CommandRejected(0, f"no department (reparto) sells VAT group "
                                  f"{', '.join(missing)}", self.last_status
                                  or DeviceStatus(frozenset()))
        return self._by_group

    def print_receipt(self, receipt: FiscalReceipt, sale_id: str,
                      progress: Progress | None = None) -> ReceiptResult:
        departments = self._departments(receipt.lines)
        self._ready("receipt")
        body = rt_xml.receipt_request(receipt.lines, receipt.payments, departments,
                                      texts=receipt.texts, operator=self.config.operator,
                                      payment_types=self.config.payment_types)
        log.info("sale %s: sending an RT receipt of %s", sale_id, receipt.total)
        answer = self._call(body, f"receipt of sale {sale_id}")
        result = self._result(answer, sale_id, receipt.total)
        if progress is not None:
            _report_all(progress, receipt.lines, receipt.payments, receipt.texts)
        log.info("sale %s: RT document %04d-%04d", sale_id, *divmod(result.document_number,
                                                                    PER_PERIOD))
        return result

    def _result(self, answer: Answer, sale_id: str, total: Decimal) -> ReceiptResult:
        try:
            last = rt_xml.counters(answer, self.config.layout)
        except AnswerError:
            # Printed, but the answer lacks the numbers: read them.
            last = self.counters()
        if last.amount and last.amount != total:
            log.error("sale %s: the printer totalled %s, the sale %s", sale_id, last.amount,
                      total)
        return ReceiptResult(sale_id, document_number(last.z_number, last.number),
                             last.number, last.amount or total)

    def resume_receipt(self, receipt: FiscalReceipt, sale_id: str,
                       progress: Progress | None = None) -> ReceiptResult:
        if self.status().receipt_open:
            raise RecoveryConflict("a document is open on the RT printer, but RT receipts "
                                   "are sent whole: it is not this sale's; cancel it")
        raise RecoveryConflict("no receipt is open on the RT printer")

    def cancel_open_receipt(self) -> None:
        self._call(rt_xml.command_request("resetPrinter", operator=self.config.operator),
                   "resetPrinter")

    def print_refund(self, refund: RefundReceipt, sale_id: str) -> ReceiptResult:
        departments = self._departments(refund.lines)
        self._ready("refund")
        z_number, number = divmod(refund.original_number, PER_PERIOD)
        reference = rt_xml.refund_reference(z_number, number,
                                            refund.original_time.astimezone(self.tz),
                                            refund.fiscal_memory)
        body = rt_xml.receipt_request(refund.lines, refund.payments, departments,
                                      operator=self.config.operator,
                                      payment_types=self.config.payment_types,
                                      refund_of=reference)
        answer = self._call(body, f"refund {sale_id}")
        return self._result(answer, sale_id, refund.total)

    def print_duplicate(self) -> None:
        raise CommandRejected(0, "duplicates are not supported by the RT driver",
                              self.last_status or DeviceStatus(frozenset()))

    def print_nonfiscal(self, lines: list[str]) -> None:
        self._ready("non-fiscal document")
        self._call(rt_xml.nonfiscal_request(lines, self.config.operator), "non-fiscal")

    # -- reports -----------------------------------------------------------------------------

    def _totals(self) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        io = self.config.totals_io
        sales: dict[str, Decimal] = {}
        refunds: dict[str, Decimal] = {}
        if io is None:
            return sales, refunds
        for department in self.config.departments:
            answer = self.direct_io(io.command, f"{io.data}{department.number:02d}")
            try:
                sold, refunded = rt_xml.department_totals(answer, self.config.layout)
            except AnswerError as exc:
                raise DeviceUnavailable(f"directIO {io.command}: {exc}") from exc
            group = department.group
            sales[group] = sales.get(group, ZERO) + sold
            refunds[group] = refunds.get(group, ZERO) + refunded
        return ({g: v for g, v in sales.items() if v},
                {g: v for g, v in refunds.items() if v})

    def x_report(self) -> ReportTotals:
        sales, refunds = self._totals()
        answer = self._call(rt_xml.report_request("X", self.config.operator), "X report",
                            self.config.report_timeout)
        return ReportTotals(answer.integer("zRepNumber") or 0, sales, refunds)

    def z_report(self) -> ReportTotals:
        if self.status().receipt_open:
            raise ReceiptOpen("close or cancel the open document before the Z report")
        sales, refunds = self._totals()  # read first: the Z sets them to zero
        answer = self._call(rt_xml.report_request("Z", self.config.operator,
                                                  int(self.config.report_timeout * 1000)),
                            "Z report", self.config.report_timeout)
        number = answer.integer("zRepNumber")
        if number is None:
            number = self.counters().z_number - 1
        log.info("RT Z report %d: %s", number, sales)
        return ReportTotals(number, sales, refunds)

    # -- clock, VAT, PLU, display ------------------------------------------------------------

    def get_clock(self) -> datetime:
        raise CommandRejected(0, "reading the RT clock is not supported by this driver",
                              self.last_status or DeviceStatus(frozenset()))

    def set_clock(self, moment: datetime) -> None:
        raise CommandRejected(0, "the RT printer keeps its own clock",
                              self.last_status or DeviceStatus(frozenset()))

    def read_vat_rates(self) -> dict[str, Decimal]:
        rates: dict[str, Decimal] = {}
        for department in self.config.departments:
            rates.setdefault(department.group, department.rate)
        return rates

    def sync_plu(self, items: list[Plu]) -> SyncReport:
        """RT sells by department: there is no article table to program."""
        return SyncReport((), tuple((p.number, "RT printers sell by department, not PLU")
                                    for p in items))

    def display(self, upper: str, lower: str = "") -> None:
        text = upper[:DISPLAY_WIDTH].ljust(DISPLAY_WIDTH) + lower[:DISPLAY_WIDTH]
        self._call(rt_xml.command_request("displayText", operator=self.config.operator,
                                          data=text.rstrip()), "displayText")

    def close(self) -> None:
        return None


def document_number(z_number: int, number: int) -> int:
    return z_number * PER_PERIOD + number


def _report_all(progress: Progress, lines: tuple[FiscalLine, ...],
                payments: tuple[Payment, ...], texts: tuple[str, ...]) -> None:
    progress(ReceiptStep.OPENED, 1)
    for index in range(1, len(lines) + 1):
        progress(ReceiptStep.LINE, index)
    for index in range(1, len(texts) + 1):
        progress(ReceiptStep.TEXT, index)
    for index in range(1, len(payments) + 1):
        progress(ReceiptStep.PAID, index)
    progress(ReceiptStep.CLOSED, 1)


def _config(values: Mapping[str, Any]) -> RtConfig:
    known = dict(values)
    departments = known.pop("departments", None)
    if departments is not None:
        if isinstance(departments, Mapping):
            items = [(int(n), d) for n, d in departments.items()]
        else:
            items = [(int(d["number"]), d) for d in departments]
        known["departments"] = tuple(Department(n, str(d["group"]), Decimal(str(d["rate"])))
                                     for n, d in sorted(items))
    for name in ("counters_io", "totals_io"):
        io = known.get(name)
        if isinstance(io, Mapping):
            known[name] = DirectIO(str(io["command"]), str(io.get("data", "")))
    for name in ("timeout", "report_timeout"):
        if name in known:
            known[name] = float(known[name])
    return RtConfig(**known)


def open_rt(url_or_config: str | RtConfig | Mapping[str, Any], *, tz: tzinfo = UTC) -> RtDevice:
    """An RT driver from a URL, an :class:`RtConfig`, or a mapping of its fields
    (``departments`` as ``{"1": {"group": "A", "rate": "22"}}``)."""
    if isinstance(url_or_config, str):
        config = RtConfig(url_or_config)
    elif isinstance(url_or_config, RtConfig):
        config = url_or_config
    else:
        config = _config(url_or_config)
    return RtDevice(config, tz=tz)


__all__ = ["DEFAULT_DEPARTMENTS", "Department", "DirectIO", "RtConfig", "RtDevice",
           "document_number", "open_rt"]
