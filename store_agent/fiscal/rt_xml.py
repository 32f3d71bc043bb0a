"""Epson fpmate XML (Italian RT printers): requests built from interface values, answers read
into values and errors. Pure: no I/O (the driver is :mod:`.rt`, the simulator
:mod:`.rt_simulator`).

A request is a SOAP envelope ``s:Envelope/s:Body`` around one of ``printerFiscalReceipt``,
``printerFiscalReport``, ``printerNonFiscal`` or ``printerCommand``. An answer is
``<response success code status><addInfo><elementList>a,b,..</elementList><a>..</a>..``.
``printerStatus`` has five digits: printer (0 OK, 2 paper low, 3 offline: paper end or
cover open), electronic journal (0 OK, 1 nearly full, 2 to format, 3 previous, 4 of another
device, 5 full), drawer, receipt (0 fiscal open, 1 closed, 2 non-fiscal open, 3 payment in
progress, 5 negative, 8 fiscal document open) and mode (0 registration, 1 X, 2 Z, 3 set).

Amounts go out with a dot and two decimals (``1.50``); answers may use a comma (``1,50``),
as Epson's own library expects (OCA ``fiscal_epos_print`` replaces it).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from rules.money import round_money
from store_agent.fiscal.device import (
    CommandRejected,
    DeviceStatus,
    DeviceUnavailable,
    FiscalError,
    FiscalLine,
    PaperOut,
    Payment,
    PaymentMethod,
    StatusFlag,
)

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
IDLE_STATUS = "00110"
PAPER_CODES = frozenset({"EPTR_REC_EMPTY"})
UNAVAILABLE_CODES = frozenset({"FP_NO_ANSWER", "FP_NO_ANSWER_NETWORK", "EX_TIMEOUT",
                               "EX_ENPC_TIMEOUT", "DeviceNotFound", "EPTR_UNRECOVERABLE"})
"""Codes that say the fiscal unit did not answer the web server: the outcome is unknown."""
QTY = Decimal("0.001")


class AnswerError(ValueError):
    """Bytes that are not an fpmate answer (or request)."""


# -- values on the wire ----------------------------------------------------------------------

def money(value: Decimal) -> str:
    return f"{round_money(value):.2f}"


def quantity(value: Decimal) -> str:
    text = f"{value.quantize(QTY):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_amount(text: str) -> Decimal:
    """``1,50``, ``1.50`` or ``1.234,50`` (thousands with a dot when a comma is decimal)."""
    raw = text.strip()
    if "," in raw:
        raw = raw.replace(".", "").replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise AnswerError(f"not an amount: {text!r}") from exc
    if not value.is_finite():
        raise AnswerError(f"not an amount: {text!r}")
    return round_money(value)


def cents(text: str) -> Decimal:
    """An amount written as whole cents (``000000150`` = 1.50)."""
    digits = text.strip()
    if not digits.lstrip("-").isdigit():
        raise AnswerError(f"not an amount in cents: {text!r}")
    return Decimal(int(digits)).scaleb(-2)


# -- requests --------------------------------------------------------------------------------

@dataclass(frozen=True)
class PaymentType:
    """``printRecTotal``'s ``paymentType`` and ``index`` and the text printed next to it."""

    type: int
    index: int
    description: str


PAYMENT_TYPES: Mapping[PaymentMethod, PaymentType] = {
    PaymentMethod.CASH: PaymentType(0, 0, "Contanti"),
    PaymentMethod.CHEQUE: PaymentType(1, 0, "Assegno"),
    PaymentMethod.CARD: PaymentType(2, 1, "Carta"),
    PaymentMethod.CREDIT: PaymentType(5, 0, "Non riscosso"),
}


def _element(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, attrs)


def envelope(body: ET.Element) -> bytes:
    root = ET.Element("s:Envelope", {"xmlns:s": SOAP_NS})
    ET.SubElement(root, "s:Body").append(body)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def receipt_request(lines: Sequence[FiscalLine], payments: Iterable[Payment],
                    departments: Mapping[str, int], *, texts: Iterable[str] = (),
                    operator: str = "1",
                    payment_types: Mapping[PaymentMethod, PaymentType] = PAYMENT_TYPES,
                    refund_of: str | None = None, width: int = 38) -> ET.Element:
    """One whole receipt (or, with ``refund_of``, a refund document): on RT a document is
    one request, so it is printed entirely or not at all.

    A refund document opens with the ``messageType="4"`` reference to the original document
    in place of ``beginFiscalReceipt`` (as OCA ``fiscal_epos_print`` sends it since it
    "printFiscalRefundDetails"; docs/fiscal-rt.md)."""
    root = ET.Element("printerFiscalReceipt")
    if refund_of is not None:
        _element(root, "printRecMessage", operator=operator, messageType="4",
                 message=refund_of, index="1", font="1")
    else:
        _element(root, "beginFiscalReceipt", operator=operator)
    for line in lines:
        department = str(departments[line.vat_group])
        description = line.name[:width]
        tag = "printRecRefund" if refund_of is not None else "printRecItem"
        _element(root, tag, operator=operator, description=description,
                 quantity=quantity(line.quantity), unitPrice=money(line.unit_price),
                 department=department, justification="1")
        if line.discount:
            # adjustmentType 0: a discount on the item just sold (OCA, Epson manual).
            _element(root, "printRecItemAdjustment", operator=operator, adjustmentType="0",
                     description="Sconto", amount=money(line.discount),
                     department=department, justification="2")
    for index, text in enumerate(texts, start=1):
        _element(root, "printRecMessage", operator=operator, messageType="3",
                 index=str(index), font="1", message=text[:width])
    for payment in payments:
        kind = payment_types[payment.method]
        _element(root, "printRecTotal", operator=operator, description=kind.description,
                 payment=money(payment.amount), paymentType=str(kind.type),
                 index=str(kind.index), justification="1")
    _element(root, "endFiscalReceipt", operator=operator)
    return root


def refund_reference(z_number: int, number: int, moment: datetime, serial: str) -> str:
    """``REFUND zzzz nnnn ddmmyyyy SERIAL``: the document being refunded (Z period, document
    number, its date as day, month, year without separators, the RT serial)."""
    return f"REFUND {z_number:04d} {number:04d} {moment:%d%m%Y} {serial}"


def report_request(kind: str, operator: str = "1", timeout_ms: int | None = None) -> ET.Element:
    """``X``, ``Z`` or ``XZ``."""
    tags = {"X": "printXReport", "Z": "printZReport", "XZ": "printXZReport"}
    root = ET.Element("printerFiscalReport")
    attrs = {"operator": operator}
    if timeout_ms is not None and kind != "X":
        attrs["timeout"] = str(timeout_ms)
    _element(root, tags[kind], **attrs)
    return root


def command_request(tag: str, **attrs: str) -> ET.Element:
    root = ET.Element("printerCommand")
    _element(root, tag, **attrs)
    return root


def status_request(operator: str = "1") -> ET.Element:
    return command_request("queryPrinterStatus", operator=operator, statusType="0")


def direct_io_request(command: str, data: str) -> ET.Element:
    return command_request("directIO", command=command, data=data)


def nonfiscal_request(lines: Iterable[str], operator: str = "1") -> ET.Element:
    root = ET.Element("printerNonFiscal")
    _element(root, "beginNonFiscal", operator=operator)
    for line in lines:
        _element(root, "printNormal", operator=operator, font="1", data=line)
    _element(root, "endNonFiscal", operator=operator)
    return root


def parse_request(data: bytes) -> ET.Element:
    """The body of a request envelope (what the simulator executes)."""
    body = _find(_parse(data), "Body")
    if body is None or len(body) != 1:
        raise AnswerError("a request needs exactly one element in s:Body")
    return body[0]


# -- answers ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    success: bool
    code: str
    status: str
    info: Mapping[str, str]

    @property
    def printer_status(self) -> str:
        return self.info.get("printerStatus") or self.info.get("fpStatus") or ""

    def integer(self, name: str) -> int | None:
        value = self.info.get(name, "").strip()
        return int(value) if value.isdigit() else None

    def amount(self, name: str) -> Decimal | None:
        value = self.info.get(name, "").strip()
        return parse_amount(value) if value else None


def _parse(data: bytes) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise AnswerError(f"not XML: {exc}") from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _find(root: ET.Element, name: str) -> ET.Element | None:
    return next((e for e in root.iter() if _local(e.tag) == name), None)


def parse_answer(data: bytes) -> Answer:
    response = _find(_parse(data), "response")
    if response is None:
        raise AnswerError("no <response> in the answer")
    success = response.get("success", "").strip().lower() in ("true", "1")
    info: dict[str, str] = {}
    add_info = _find(response, "addInfo")
    if add_info is not None:
        for child in add_info:
            name = _local(child.tag)
            if name != "elementList":
                info[name] = (child.text or "").strip()
    return Answer(success, response.get("code", "") or "", response.get("status", "") or "",
                  info)


def answer_xml(success: bool, code: str = "", status: str = "2",
               info: Sequence[tuple[str, str]] = ()) -> bytes:
    """An answer as the printer's web server writes it (for the simulator and tests)."""
    root = ET.Element("soapenv:Envelope", {"xmlns:soapenv": SOAP_NS})
    response = ET.SubElement(ET.SubElement(root, "soapenv:Body"), "response",
                             {"success": "true" if success else "false", "code": code,
                              "status": status})
    if info:
        add_info = ET.SubElement(response, "addInfo")
        ET.SubElement(add_info, "elementList").text = ",".join(name for name, _ in info)
        for name, value in info:
            ET.SubElement(add_info, name).text = value
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


# -- printerStatus ---------------------------------------------------------------------------

_PRINTER = {"2": {StatusFlag.PAPER_NEAR_END}, "3": {StatusFlag.PRINTER_FAULT}}
_EJ = {"1": {StatusFlag.EJ_NEAR_FULL}, "2": {StatusFlag.FM_ERROR},
       "3": {StatusFlag.FM_ERROR}, "4": {StatusFlag.FM_ERROR}, "5": {StatusFlag.EJ_FULL}}
_RECEIPT = {"0": {StatusFlag.RECEIPT_OPEN}, "2": {StatusFlag.NONFISCAL_OPEN},
            "3": {StatusFlag.RECEIPT_OPEN}, "5": {StatusFlag.RECEIPT_OPEN,
                                                  StatusFlag.REFUND_OPEN},
            "8": {StatusFlag.RECEIPT_OPEN}}


def decode_status(printer_status: str) -> DeviceStatus:
    """The five ``printerStatus`` digits as flags. Digit 0 = 3 ("offline: paper end or cover
    open") cannot tell paper from cover: it is reported as a print-mechanism fault."""
    text = (printer_status + "?????")[:5]
    flags: set[StatusFlag] = set()
    flags |= _PRINTER.get(text[0], set())
    flags |= _EJ.get(text[1], set())
    flags |= _RECEIPT.get(text[3], set())
    if not printer_status or text[0] not in "023" or text[1] not in "012345":
        flags.add(StatusFlag.GENERAL_ERROR)
    return DeviceStatus(frozenset(flags), printer_status.encode("ascii", "replace"))


def offline(printer_status: str) -> bool:
    return printer_status[:1] == "3"


def failure(answer: Answer, what: str) -> FiscalError:
    """The error of an answer with ``success="false"``."""
    status = decode_status(answer.printer_status)
    command = answer.integer("lastCommand") or 0
    code = answer.code or "refused"
    if answer.code in PAPER_CODES:
        return PaperOut(command, f"{what}: out of paper ({code})", status)
    if answer.code in UNAVAILABLE_CODES or offline(answer.printer_status):
        return DeviceUnavailable(f"{what}: printer offline or not answering ({code}, "
                                 f"printerStatus {answer.printer_status or '?'})")
    return CommandRejected(command, f"{what}: {code}", status)


# -- counters read with directIO -------------------------------------------------------------

@dataclass(frozen=True)
class Counters:
    z_number: int
    """The Z period the receipts belong to (``zRepNumber``: the next Z to be printed)."""
    number: int
    """The last commercial document of that period (``fiscalReceiptNumber``)."""
    amount: Decimal
    """The total of that document (``fiscalReceiptAmount``)."""


@dataclass(frozen=True)
class Layout:
    """Where the fields sit in a directIO ``responseData`` (start, end), amounts in cents."""

    z_number: tuple[int, int] = (0, 4)
    number: tuple[int, int] = (4, 8)
    amount: tuple[int, int] = (8, 17)
    sales: tuple[int, int] = (2, 14)
    refunds: tuple[int, int] = (14, 26)


def counters(answer: Answer, layout: Layout = Layout()) -> Counters:
    """From ``zRepNumber``/``fiscalReceiptNumber``/``fiscalReceiptAmount`` when the answer
    carries them, else from ``responseData`` at ``layout``."""
    z, number = answer.integer("zRepNumber"), answer.integer("fiscalReceiptNumber")
    if z is not None and number is not None:
        return Counters(z, number, answer.amount("fiscalReceiptAmount") or Decimal("0.00"))
    data = answer.info.get("responseData", "")
    fields = [data[a:b] for a, b in (layout.z_number, layout.number, layout.amount)]
    if not all(f.strip().isdigit() for f in fields[:2]):
        raise AnswerError(f"no document counters in the answer (responseData {data!r})")
    return Counters(int(fields[0]), int(fields[1]),
                    cents(fields[2]) if fields[2].strip() else Decimal("0.00"))


def department_totals(answer: Answer, layout: Layout = Layout()) -> tuple[Decimal, Decimal]:
    """Sales and refunds of one department since the last Z, from ``responseData``."""
    data = answer.info.get("responseData", "")
    return cents(data[slice(*layout.sales)]), cents(data[slice(*layout.refunds)])
