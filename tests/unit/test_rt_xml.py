"""fpmate XML for Italian RT printers: requests as the notes show them, answers into values
and errors (fiscal-printers.md §3)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from store_agent.fiscal import rt_xml
from store_agent.fiscal.device import (
    CommandRejected,
    DeviceUnavailable,
    FiscalLine,
    PaperOut,
    Payment,
    PaymentMethod,
    StatusFlag,
)
from store_agent.fiscal.rt import RtConfig, document_number, open_rt

DEPARTMENTS = {"A": 1, "B": 2}

# The notes' answer (elementList of §3), as Epson's web server writes it.
RECEIPT_ANSWER = b"""<?xml version="1.0" encoding="utf-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
<soapenv:Body>
<response success="true" code="" status="2">
<addInfo>
<elementList>lastCommand,printerStatus,fiscalReceiptNumber,fiscalReceiptAmount,fiscalReceiptDate,fiscalReceiptTime,zRepNumber</elementList>
<lastCommand>74</lastCommand>
<printerStatus>20110</printerStatus>
<fiscalReceiptNumber>0005</fiscalReceiptNumber>
<fiscalReceiptAmount>1,30</fiscalReceiptAmount>
<fiscalReceiptDate>2/3/2024</fiscalReceiptDate>
<fiscalReceiptTime>10:15</fiscalReceiptTime>
<zRepNumber>0013</zRepNumber>
</addInfo>
</response>
</soapenv:Body>
</soapenv:Envelope>"""


def body_of(envelope: bytes) -> ET.Element:
    return rt_xml.parse_request(envelope)


def test_a_receipt_is_the_notes_request_in_a_soap_envelope() -> None:
    line = FiscalLine("Pane", Decimal(1), Decimal("1.5"), "A", discount=Decimal("0.20"))
    body = rt_xml.receipt_request([line], [Payment(PaymentMethod.CASH, Decimal("1.30"))],
                                  DEPARTMENTS)
    data = rt_xml.envelope(body)
    root = ET.fromstring(data)
    assert root.tag == f"{{{rt_xml.SOAP_NS}}}Envelope"
    assert root[0].tag == f"{{{rt_xml.SOAP_NS}}}Body"
    parsed = body_of(data)
    assert parsed.tag == "printerFiscalReceipt"
    assert [(e.tag, e.attrib) for e in parsed] == [
        ("beginFiscalReceipt", {"operator": "1"}),
        ("printRecItem", {"operator": "1", "description": "Pane", "quantity": "1",
                          "unitPrice": "1.50", "department": "1", "justification": "1"}),
        ("printRecItemAdjustment", {"operator": "1", "adjustmentType": "0",
                                    "description": "Sconto", "amount": "0.20",
                                    "department": "1", "justification": "2"}),
        ("printRecTotal", {"operator": "1", "description": "Contanti", "payment": "1.30",
                           "paymentType": "0", "index": "0", "justification": "1"}),
        ("endFiscalReceipt", {"operator": "1"}),
    ]


def test_vat_goes_by_department_and_payments_by_type() -> None:
    lines = [FiscalLine("Vino", Decimal("0.750"), Decimal("12.00"), "B"),
             FiscalLine('Pane "bio" & <olio>', Decimal(3), Decimal("0.99"), "A")]
    body = rt_xml.receipt_request(lines, [Payment(PaymentMethod.CARD, Decimal("5")),
                                          Payment(PaymentMethod.CASH, Decimal("20"))],
                                  DEPARTMENTS, texts=["Grazie"])
    parsed = body_of(rt_xml.envelope(body))
    items = parsed.findall("printRecItem")
    assert [(i.get("department"), i.get("quantity"), i.get("unitPrice")) for i in items] == [
        ("2", "0.75", "12.00"), ("1", "3", "0.99")]
    assert items[1].get("description") == 'Pane "bio" & <olio>'  # escaped and read back
    assert [(t.get("paymentType"), t.get("index"), t.get("payment"))
            for t in parsed.findall("printRecTotal")] == [("2", "1", "5.00"),
                                                          ("0", "0", "20.00")]
    assert parsed.find("printRecMessage").attrib["messageType"] == "3"  # type: ignore[union-attr]


def test_a_refund_names_the_original_document() -> None:
    reference = rt_xml.refund_reference(13, 5, datetime(2024, 3, 2, 10, 15, tzinfo=UTC),
                                        "99MEY012345")
    assert reference == "REFUND 0013 0005 02032024 99MEY012345"
    body = rt_xml.receipt_request([FiscalLine("Pane", Decimal(1), Decimal("1.50"), "A")],
                                  [Payment(PaymentMethod.CASH, Decimal("1.50"))], DEPARTMENTS,
                                  refund_of=reference)
    # The reference opens the refund document: no beginFiscalReceipt.
    assert [e.tag for e in body] == ["printRecMessage", "printRecRefund", "printRecTotal",
                                     "endFiscalReceipt"]
    assert body[0].attrib["messageType"] == "4" and body[0].attrib["message"] == reference


def test_reports_and_commands() -> None:
    assert [e.tag for e in rt_xml.report_request("X")] == ["printXReport"]
    z = rt_xml.report_request("Z", timeout_ms=6000)
    assert z.tag == "printerFiscalReport" and z[0].tag == "printZReport"
    assert z[0].attrib == {"operator": "1", "timeout": "6000"}
    status = rt_xml.status_request()
    assert status.tag == "printerCommand" and status[0].tag == "queryPrinterStatus"
    io = rt_xml.direct_io_request("1138", "01")
    assert io[0].tag == "directIO" and io[0].attrib == {"command": "1138", "data": "01"}


@pytest.mark.parametrize("value, text", [(Decimal("1.5"), "1.50"), (Decimal("0.005"), "0.01"),
                                         (Decimal("1234"), "1234.00")])
def test_money_has_a_dot_and_two_decimals(value: Decimal, text: str) -> None:
    assert rt_xml.money(value) == text


@pytest.mark.parametrize("value, text", [(Decimal(1), "1"), (Decimal("10"), "10"),
                                         (Decimal("0.500"), "0.5"), (Decimal("1.25"), "1.25")])
def test_quantities(value: Decimal, text: str) -> None:
    assert rt_xml.quantity(value) == text


@pytest.mark.parametrize("text, value", [("1,30", "1.30"), ("1.30", "1.30"),
                                         ("1.234,50", "1234.50"), (" 0 ", "0.00")])
def test_answer_amounts_may_use_a_comma(text: str, value: str) -> None:
    assert rt_xml.parse_amount(text) == Decimal(value)


def test_a_receipt_answer_gives_its_numbers() -> None:
    answer = rt_xml.parse_answer(RECEIPT_ANSWER)
    assert answer.success and answer.code == "" and answer.status == "2"
    assert answer.printer_status == "20110"
    counters = rt_xml.counters(answer)
    assert counters == rt_xml.Counters(13, 5, Decimal("1.30"))
    assert document_number(counters.z_number, counters.number) == 130005


def test_counters_from_direct_io_response_data() -> None:
    answer = rt_xml.parse_answer(rt_xml.answer_xml(True, info=[
        ("responseCommand", "1070"), ("responseData", "00130005000000130")]))
    assert rt_xml.counters(answer) == rt_xml.Counters(13, 5, Decimal("1.30"))
    # Another layout, once the manual says where the fields are.
    layout = rt_xml.Layout(z_number=(2, 6), number=(6, 10), amount=(10, 16))
    answer = rt_xml.parse_answer(rt_xml.answer_xml(True, info=[
        ("responseData", "0100070042000999")]))
    assert rt_xml.counters(answer, layout) == rt_xml.Counters(7, 42, Decimal("9.99"))
    with pytest.raises(rt_xml.AnswerError, match="no document counters"):
        rt_xml.counters(rt_xml.parse_answer(rt_xml.answer_xml(True)))


@pytest.mark.parametrize("status, flags, can_print, receipt_open", [
    ("00110", set(), True, False),
    ("20110", {StatusFlag.PAPER_NEAR_END}, True, False),
    ("30110", {StatusFlag.PRINTER_FAULT}, False, False),
    ("01110", {StatusFlag.EJ_NEAR_FULL}, True, False),
    ("05110", {StatusFlag.EJ_FULL}, False, False),
    ("00100", {StatusFlag.RECEIPT_OPEN}, True, True),
    ("00130", {StatusFlag.RECEIPT_OPEN}, True, True),
    ("00120", {StatusFlag.NONFISCAL_OPEN}, True, False),
    ("", {StatusFlag.GENERAL_ERROR}, True, False),
])
def test_printer_status_digits(status: str, flags: set[StatusFlag], can_print: bool,
                               receipt_open: bool) -> None:
    decoded = rt_xml.decode_status(status)
    assert decoded.flags == flags
    assert decoded.can_print is can_print and decoded.receipt_open is receipt_open


def failed(code: str, status: str) -> rt_xml.Answer:
    return rt_xml.parse_answer(rt_xml.answer_xml(False, code, "0", [
        ("lastCommand", "74"), ("printerStatus", status)]))


def test_failures_become_the_interface_errors() -> None:
    paper = rt_xml.failure(failed("EPTR_REC_EMPTY", "30110"), "receipt")
    assert isinstance(paper, PaperOut) and "out of paper" in paper.reason
    assert isinstance(rt_xml.failure(failed("", "30110"), "receipt"), DeviceUnavailable)
    assert isinstance(rt_xml.failure(failed("FP_NO_ANSWER", "00110"), "x"), DeviceUnavailable)
    refused = rt_xml.failure(failed("EPTR_SYNTAX", "00110"), "receipt")
    assert type(refused) is CommandRejected and "EPTR_SYNTAX" in refused.reason


@pytest.mark.parametrize("data", [b"", b"<html>502</html>", b"<response"])
def test_what_is_not_an_answer_is_refused(data: bytes) -> None:
    with pytest.raises(rt_xml.AnswerError):
        rt_xml.parse_answer(data)


def test_open_rt_takes_a_url_or_a_mapping() -> None:
    device = open_rt({"url": "http://10.0.0.5", "timeout": "3",
                      "departments": {"1": {"group": "A", "rate": "22"},
                                      "5": {"group": "D", "rate": "4"}},
                      "counters_io": {"command": "9999", "data": "01"}})
    assert device.read_vat_rates() == {"A": Decimal(22), "D": Decimal(4)}
    assert device.config.counters_io.command == "9999" and device.config.timeout == 3.0
    assert open_rt("http://10.0.0.5:8080").read_vat_rates()["B"] == Decimal("10.00")
    with pytest.raises(ValueError, match="http://host"):
        RtConfig("10.0.0.5")
    with pytest.raises(ValueError, match="VAT group"):
        open_rt({"url": "http://h", "departments": {"1": {"group": "Z", "rate": "1"}}})
