"""The Datecs driver fed answers shaped exactly as the three manuals print them.

The device here is a script: each command gets the answer its family's manual gives (VAT
table with nZreport and a disabled group, transaction status, close answer, 90 device
information ...), framed by the real codec, and every request the driver sends is kept for
inspection. Page references are to the manuals listed in docs/fiscal-datecs.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from store_agent.fiscal.datecs import DatecsDevice
from store_agent.fiscal.datecs_codec import (
    Dialect,
    decode_request,
    encode_answer,
    encode_status,
)
from store_agent.fiscal.datecs_family import UnsupportedModel, model_of
from store_agent.fiscal.datecs_link import Link
from store_agent.fiscal.device import (
    FiscalError,
    FiscalLine,
    FiscalReceipt,
    Payment,
    PaymentMethod,
    Plu,
    RefundReceipt,
    StatusFlag,
)

D = Decimal
Answer = str | Callable[[str], str]


class ScriptedDevice:
    """A transport whose far end answers from a table: command -> manual-shaped answer."""

    def __init__(self, dialect: Dialect, family: str, answers: dict[int, Answer],
                 flags: frozenset[StatusFlag] = frozenset()) -> None:
        self.dialect, self.family, self.answers = dialect, family, answers
        self.flags = flags | {StatusFlag.FISCALISED, StatusFlag.VAT_RATES_SET}
        self.sent: list[tuple[int, str]] = []
        self._out = b""

    def write(self, data: bytes) -> None:
        frame = decode_request(self.dialect, data)
        text = frame.data.decode("cp1251")
        self.sent.append((frame.cmd, text))
        flags = set(self.flags)
        if frame.cmd in self.answers:
            answer = self.answers[frame.cmd]
            reply = answer(text) if callable(answer) else answer
        else:  # "a non-existing code ... zero length in the data field", status bit 0.1
            reply, flags = "", flags | {StatusFlag.INVALID_COMMAND}
        self._out += encode_answer(self.dialect, frame.seq, frame.cmd, reply.encode("cp1251"),
                                   encode_status(self.dialect, frozenset(flags), self.family))

    def read(self, timeout: float) -> bytes:
        out, self._out = self._out, b""
        return out

    def discard_input(self) -> None:
        pass

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "script"

    def data_of(self, cmd: int) -> list[str]:
        return [text for sent, text in self.sent if sent == cmd]


X_INFO = "0\tFP-700X\t263453\t01Jan24\t1200\tABCD\t00000000\tDT000600\t02000600\t"
PRINTER_INFO = "FP-550,1.00BG 01Jan24 1200,FFFF,00000000,DT000600,02000600"
REGISTER_INFO = "DP-251.00 01Jan24 1200,FFFF,00000000,02000600,DT000600"

COMMON = {
    "x": {74: "0\t", 90: X_INFO,
          # X 50 (p. 10): ErrorCode, nZreport, TaxA..TaxH (100.00 = disabled), EntDate.
          50: "0\t37\t20.00\t9.00\t0.00\t100.00\t100.00\t100.00\t100.00\t100.00\t01-01-24\t",
          48: "0\t118\t", 49: "0\t118\t", 54: "0\t", 53: "0\tR\t0.00\t", 56: "0\t118\t",
          # X 76 (p. 21): ErrorCode, IsOpen, Number, Items, Amount, Payed.
          76: "0\t1\t118\t2\t12.34\t5.00\t", 43: "0\t119\t", 107: "0\t",
          62: "0\t06-05-31 10:08:09 DST\t"},
    "printer": {74: "", 90: PRINTER_INFO,
                # 83 (p. 26): Multiplier,Decimals,Currency_name,EnabledT,TaxA..TaxH.
                83: "0,2,BGN,11100000,20.00,9.00,0.00,0.00,0.00,0.00,0.00,0.00",
                48: "7,3", 49: "", 54: "", 53: "R+000000000", 56: "8,4", 113: "0000042",
                # 76 T (p. 25): Open,Items,Amount,Tender, amounts with a sign.
                76: "1,2,+00001234,+00000500", 46: "9,1", 107: "P",
                # 69 (p. 23): Closure,FM_Total,TotA..TotH.
                69: "0012,+000000000848,+000000000598,+000000000250,+000000000000,"
                    "+000000000000,+000000000000,+000000000000,+000000000000,+000000000000"},
    "register": {74: "", 90: REGISTER_INFO,
                 83: "0,2,лв,11100000,20.00,9.00,0.00,0.00,0.00,0.00,0.00,0.00",
                 48: "7,3", 49: "", 54: "", 53: "R+000000000", 56: "8,4", 113: "0000042",
                 76: "1,2,+00001234,+00000500", 46: "9,1", 107: "P",
                 69: "0012,+000000000848,+000000000598,+000000000250,+000000000000,"
                     "+000000000000,+000000000000,+000000000000,+000000000000,"
                     "+000000000000"},
}
DIALECT = {"x": Dialect.X, "printer": Dialect.BYTE, "register": Dialect.BYTE}


def device(family: str, flags: frozenset[StatusFlag] = frozenset(),
           extra: dict[int, Answer] | None = None) -> tuple[DatecsDevice, ScriptedDevice]:
    answers: dict[int, Answer] = {**COMMON[family], **(extra or {})}
    script = ScriptedDevice(DIALECT[family], family, answers, flags)
    driver = DatecsDevice(Link(script, DIALECT[family], answer_timeout=0.01, max_writes=1),
                          tz=ZoneInfo("Europe/Sofia"))
    driver.identify()
    return driver, script


FAMILIES = ["x", "printer", "register"]


@pytest.mark.parametrize("family", FAMILIES)
def test_the_vat_table_maps_groups_as_the_device_has_them(family: str) -> None:
    # Issue 11 items 1 and 5: the X table starts with nZreport and 100.00 is a disabled
    # group; the 1-byte table has a currency name before the enabled-groups mask.
    driver, _script = device(family)
    assert driver.read_vat_rates() == {"A": D("20.00"), "B": D("9.00"), "C": D("0.00")}


RECEIPT = FiscalReceipt(
    lines=(FiscalLine("Bread", D("2"), D("1.25"), "B"),      # 9% -> B on these tables
           FiscalLine("Wine", D("1"), D("7.50"), "A")),      # 20% -> A
    payments=(Payment(PaymentMethod.CARD, D("10.00")),))


@pytest.mark.parametrize(("family", "sales", "payment", "document", "number"), [
    # X 49 (p. 9): TaxCd digits 1-8; 53 (p. 11) '1' credit card; 56 (p. 14) SlipNumber.
    ("x", ["Bread\t2\t1.25\t2\t0\t\t0\t", "Wine\t1\t7.50\t1\t0\t\t0\t"], "1\t10.00\t",
     118, 118),
    # Printers 49 (p. 17) Latin letters; 53 (p. 19) 'D' debit card; 56 + 113 (p. 35).
    ("printer", ["Bread\tB1.25*2", "Wine\tA7.50*1"], "\tD10.00", 42, 4),
    # Registers 49 (p. 11) Cyrillic letters; 53 (p. 13) 'C' debit card ('D' is НЗОК).
    ("register", ["Bread\tБ1.25*2", "Wine\tА7.50*1"], "\tC10.00", 42, 4),
])
def test_a_receipt_as_each_manual_lays_it_out(family: str, sales: list[str], payment: str,
                                              document: int, number: int) -> None:
    driver, script = device(family)
    result = driver.print_receipt(RECEIPT, "sale-1")
    assert script.data_of(49) == sales
    assert script.data_of(53) == [payment]
    assert (result.document_number, result.receipt_number) == (document, number)
    # X 48 syntax 1 (p. 9): OpCode, OpPwd, TillNmb, Invoice; 1-byte: Op,Pwd,Till.
    assert script.data_of(48) == (["1\t0000\t1\t\t"] if family == "x" else ["1,0000,1"])
    # Issue 11 item 2: there is no command 113 in the X manual.
    assert (113 in [cmd for cmd, _ in script.sent]) is (family != "x")


@pytest.mark.parametrize("family", FAMILIES)
def test_the_transaction_status_fields(family: str) -> None:
    # Issue 11 item 8: X answers IsOpen, Number, Items, Amount, Payed; the 1-byte amounts
    # "with a sign" count stotinki.
    driver, _script = device(family, frozenset({StatusFlag.RECEIPT_OPEN}))
    tx = driver.transaction_state()
    assert (tx.open, tx.items, tx.amount, tx.tendered) == (True, 2, D("12.34"), D("5.00"))
    assert driver.last_document().number == (118 if family == "x" else 42)


def test_a_service_receipt_open_is_not_a_fiscal_one() -> None:
    driver, _script = device("printer", frozenset({StatusFlag.NONFISCAL_OPEN}))
    assert not driver.transaction_state().open


REFUND = RefundReceipt(lines=(RECEIPT.lines[0],), payments=(Payment(PaymentMethod.CASH,
                                                                    D("2.50")),),
                       original_number=42, original_time=datetime(2026, 3, 1, 10, tzinfo=UTC),
                       fiscal_memory="02000600", original_unp="DT000600-0001-0000042")


@pytest.mark.parametrize(("family", "command", "layout"), [
    # X 43 (p. 7): OpCode, OpPwd, TillNmb, Storno, DocNum, DateTime, FMNumber, Invoice,
    # ToInvoice, Reason, NSale.
    ("x", 43, "1\t0000\t1\t1\t42\t01-03-26 12:00:00\t02000600\t\t\t\tDT000600-0001-0000042\t"),
    # Printers 46 (p. 15-16): OpNum,Password,TillNum,<StType><DocNo>,StUNP,StDT,StFMIN.
    ("printer", 46, "1,0000,1,R42,DT000600-0001-0000042,010326120000,02000600"),
    # Registers 46 (p. 10): OpCode,OpPwd,NSale,TillNmb,DocType,DocNumber,DocDateTime,FM.
    ("register", 46, "1,0000,DT000600-0001-0000042,1,1,42,010326120000,02000600"),
])
def test_the_refund_layout_of_each_family(family: str, command: int, layout: str) -> None:
    # Issue 11 item 6. Sofia is UTC+2 on 1 March.
    driver, script = device(family)
    driver.print_refund(REFUND, "refund-1")
    assert script.data_of(command) == [layout]


@pytest.mark.parametrize("family", ["x", "printer"])
def test_a_refund_without_the_unique_sale_number_is_refused_before_printing(
        family: str) -> None:
    driver, script = device(family)
    no_unp = RefundReceipt(REFUND.lines, REFUND.payments, 42, REFUND.original_time,
                           "02000600")
    with pytest.raises(FiscalError, match="unique sale number"):
        driver.print_refund(no_unp, "refund-2")
    assert not script.data_of(43) and not script.data_of(46)


@pytest.mark.parametrize(("family", "layout"), [
    # X 107 'P' (p. 28): TaxGr is a letter.
    ("x", "P\t10\tB\t0\t1\t0\t1.30\t\t0\t\t\t\t\tBread\t"),
    ("printer", "PB10,1,1.30,0,Bread"),
    ("register", "PБ10,1,1.30,0,Bread"),
])
def test_the_plu_tax_group_is_a_letter(family: str, layout: str) -> None:
    # Issue 11 item 7.
    driver, script = device(family)
    assert driver.sync_plu([Plu(10, "Bread", D("1.30"), "B")]).programmed == (10,)
    assert script.data_of(107) == [layout]


def test_the_cash_registers_take_no_cheque_and_refuse_it_before_opening() -> None:
    # Issue 11 item 3: on the cash registers C is the card, D the health insurance fund.
    driver, script = device("register")
    cheque = FiscalReceipt(RECEIPT.lines, (Payment(PaymentMethod.CHEQUE, D("10.00")),))
    with pytest.raises(FiscalError, match="cheque"):
        driver.print_receipt(cheque, "sale-2")
    assert not script.data_of(48)


def test_text_lengths_per_model() -> None:
    # Issue 11 item 9: 22-character item names and 36-character texts on the cash
    # registers; X texts are PrintColumns-2 (40 on a 42-column device).
    long = FiscalReceipt((FiscalLine("N" * 30, D("1"), D("1.00"), "A"),),
                         (Payment(PaymentMethod.CASH, D("1.00")),), texts=("T" * 50,))
    register, script = device("register")
    register.print_receipt(long, "sale-3")
    assert script.data_of(49) == ["N" * 22 + "\tА1.00*1"]
    assert script.data_of(54) == ["T" * 36]
    x, script = device("x")
    x.print_receipt(long, "sale-3")
    assert script.data_of(54) == ["T" * 40 + "\t0\t0\t0\t0\t0\t"]


def test_the_x_clock_ends_in_dst_in_summer() -> None:
    # Issue 11 item 9 (X manual, p. 5 and 62 on p. 16): "DD-MM-YY hh:mm:ss DST".
    driver, script = device("x", extra={61: "0\t"})
    assert driver.get_clock() == datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    driver.set_clock(datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC))
    driver.set_clock(datetime(2031, 12, 6, 7, 8, 9, tzinfo=UTC))
    assert script.data_of(61) == ["06-05-31 10:08:09 DST\t", "06-12-31 09:08:09\t"]


@pytest.mark.parametrize("family", ["printer", "register"])
def test_the_1_byte_report_totals_start_after_the_fm_total(family: str) -> None:
    # Issue 11 item 9: 69 answers Closure,FM_Total,TotA..TotH.
    driver, _script = device(family)
    z = driver.z_report()
    assert (z.number, z.totals["A"], z.totals["B"], z.total) == (12, D("5.98"), D("2.50"),
                                                                 D("8.48"))


@pytest.mark.parametrize(("family", "raw", "flag"), [
    ("printer", bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x84]), StatusFlag.FM_WRITE_ERROR),
    ("printer", bytes([0x80, 0xC0, 0x80, 0x80, 0x80, 0x80]), StatusFlag.TAX_TERMINAL),
    ("printer", bytes([0x80, 0x80, 0x80, 0x80, 0xC0, 0x80]), StatusFlag.HEAD_OVERHEATED),
    ("printer", bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0xA0]), StatusFlag.FM_ERROR),
    ("register", bytes([0x80, 0xC0, 0x80, 0x80, 0x80, 0x80]), StatusFlag.TAX_TERMINAL),
    ("register", bytes([0x80, 0xA0, 0x80, 0x80, 0x80, 0x80]), StatusFlag.UNSENT_DOCUMENTS),
])
def test_1_byte_error_bits_are_decoded_per_family(family: str, raw: bytes,
                                                  flag: StatusFlag) -> None:
    # Issue 11 item 9: printers p. 4-5, registers p. 3.
    from store_agent.fiscal.datecs_codec import decode_status

    assert flag in decode_status(Dialect.BYTE, raw, family).flags


def test_a_register_bit_the_printers_use_for_something_else() -> None:
    from store_agent.fiscal.datecs_codec import decode_status

    # 1.4 is "a refund receipt is open" on the printers, reserved on the cash registers.
    raw = bytes([0x80, 0x90, 0x80, 0x80, 0x80, 0x80])
    assert StatusFlag.REFUND_OPEN in decode_status(Dialect.BYTE, raw, "printer").flags
    assert StatusFlag.REFUND_OPEN not in decode_status(Dialect.BYTE, raw, "register").flags


@pytest.mark.parametrize(("answer", "family", "model", "serial", "memory"), [
    (X_INFO, "x", "FP-700X", "DT000600", "02000600"),
    (PRINTER_INFO, "printer", "FP-550", "DT000600", "02000600"),
    (REGISTER_INFO, "register", "DP-25", "DT000600", "02000600"),
])
def test_the_model_from_90_picks_the_family(answer: str, family: str, model: str,
                                            serial: str, memory: str) -> None:
    driver, _script = device(family, extra={90: answer})
    info = driver.info()
    assert (driver.family.value, info.model, info.serial, info.fiscal_memory) == (
        family, model, serial, memory)


def test_an_unknown_model_is_refused_with_a_message() -> None:
    with pytest.raises(UnsupportedModel, match="'FP-9000', a model none of the driver's manuals"):
        device("printer", extra={90: "FP-9000,1.00BG 01Jan24 1200,FFFF,00000000,DT1,0200"})
    # An X model answering in the 1-byte framing is not guessed either.
    with pytest.raises(UnsupportedModel, match="framing"):
        device("printer", extra={90: "FP-700X,1.00BG 01Jan24 1200,FFFF,00000000,DT1,0200"})


def test_model_names_match_whole_models() -> None:
    assert model_of("DP-25X")[0].name == "DP-25X"
    assert model_of("DP-251.00 01Jan24")[0].name == "DP-25"
    assert model_of("WP-50X")[0].family.value == "x"
    with pytest.raises(UnsupportedModel):
        model_of("DP-25Z")
