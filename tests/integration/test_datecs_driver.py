"""The Datecs driver against the simulator in its own process, over real TCP (and a pty).

Each fault the simulator can inject is exercised, and so is kill -9 + restart: the device's
memory survives and the driver never produces a line, a payment or a receipt twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from store_agent.fiscal.datecs import DatecsDevice, connect
from store_agent.fiscal.datecs_codec import Dialect
from store_agent.fiscal.datecs_link import Link, SerialTransport, TcpTransport
from store_agent.fiscal.datecs_syntax import Cmd
from store_agent.fiscal.device import (
    CommandRejected,
    DeviceUnavailable,
    FiscalLine,
    FiscalReceipt,
    PaperOut,
    Payment,
    PaymentMethod,
    Plu,
    ReceiptOpen,
    ReceiptStep,
    RefundReceipt,
    StatusFlag,
)
from store_agent.fiscal.simulator import inject
from tests.support import free_port, wait_until

D = Decimal
RECEIPT = FiscalReceipt(
    lines=(FiscalLine("Bread", D("2"), D("1.25"), "B"),
           FiscalLine("Milk", D("1"), D("0.99"), "C", discount=D("0.10")),
           FiscalLine("Apples", D("1.235"), D("2.10"), "D")),
    payments=(Payment(PaymentMethod.CARD, D("2.00")), Payment(PaymentMethod.CASH, D("10.00"))),
    texts=("Thank you",))
# 2.50 + 0.89 + 2.59 (1.235 x 2.10 = 2.5935) = 5.98
TOTALS = {"B": D("2.50"), "C": D("0.89"), "D": D("2.59")}


class Sim:
    """One simulator process on a fixed port and state directory; restartable."""

    def __init__(self, state: Path, dialect: str, faults: list[str], use_pty: bool = False,
                 vat: str | None = None, model: str | None = None):
        """``dialect`` is the family: ``x``, ``printer`` or ``register`` (``byte``: printer)."""
        self.state_dir, self.dialect, self.use_pty = state, dialect, use_pty
        self.options = [*(["--vat", vat] if vat else []), *(["--model", model] if model else [])]
        self.port = free_port()
        self.address = ""
        self.process: subprocess.Popen[str] | None = None
        self.closables: list[Any] = []
        self.start(faults)

    def start(self, faults: list[str] | None = None) -> None:
        args = [sys.executable, "-m", "store_agent.fiscal.simulator", "--state",
                str(self.state_dir), "--port", str(self.port), "--family", self.dialect]
        args += ["--pty"] if self.use_pty else []
        args += self.options
        for fault in faults or []:
            args += ["--fault", fault]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert "simulator" in line, line
        self.address = line.split()[-1]

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.reap()

    def reap(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        self.process.wait(30)
        self.process.stdout.close()

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        for closable in self.closables:
            closable.close()
        if self.process is not None:
            self.kill()

    @property
    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self.state_dir / "state.json").read_text())
        return result

    def inject(self, **faults: int) -> None:
        inject(self.state_dir, **faults)

    def driver(self, dialect: str | None = None, **link: Any) -> DatecsDevice:
        wanted = dialect or self.dialect
        wanted = wanted if wanted in ("x", "auto") else "byte"
        device = connect(TcpTransport("127.0.0.1", self.port), wanted,
                         answer_timeout=link.pop("answer_timeout", 0.3),
                         max_writes=link.pop("max_writes", 6))
        for name, value in link.items():
            setattr(device.link, name, value)
        self.closables.append(device)
        return device


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[Any]:
    started: list[Sim] = []

    def make(dialect: str = "x", faults: list[str] | None = None, use_pty: bool = False,
             name: str = "sim") -> Sim:
        sim = Sim(tmp_path / name, dialect, faults or [], use_pty)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def journal_receipts(sim: Sim) -> list[dict[str, Any]]:
    return [d for d in sim.state["journal"] if d["kind"] == "sale" and d["outcome"] == "closed"]


FAMILIES = ["x", "printer", "register"]
MODEL = {"x": "FP-700X", "printer": "FP-550", "register": "DP-25"}
UNP = "DT000600-0001-0000001"


# -- the protocol ------------------------------------------------------------------------------

@pytest.mark.parametrize("dialect", FAMILIES)
def test_the_dialect_is_detected_and_the_device_describes_itself(sims: Any,
                                                                 dialect: str) -> None:
    sim = sims(dialect)
    device = sim.driver("auto")
    assert device.dialect is (Dialect.X if dialect == "x" else Dialect.BYTE)
    assert device.family.value == dialect
    info = device.info()
    assert (info.model, info.serial, info.dialect) == (
        MODEL[dialect], "DT000600", device.dialect.value)
    assert info.fiscal_memory == "02000600"
    status = device.status()
    assert not status.errors and not status.receipt_open and status.can_print


@pytest.mark.parametrize("dialect", FAMILIES)
def test_a_receipt_reports_each_step_and_lands_in_the_z_totals(sims: Any, dialect: str) -> None:
    sim = sims(dialect)
    device = sim.driver()
    steps: list[tuple[ReceiptStep, int]] = []
    result = device.print_receipt(RECEIPT, "sale-1", lambda step, i: steps.append((step, i)))
    assert steps == [(ReceiptStep.OPENED, 1), (ReceiptStep.LINE, 1), (ReceiptStep.LINE, 2),
                     (ReceiptStep.LINE, 3), (ReceiptStep.TEXT, 1), (ReceiptStep.PAID, 1),
                     (ReceiptStep.PAID, 2), (ReceiptStep.CLOSED, 1)]
    assert (result.sale_id, result.amount, result.receipt_number) == ("sale-1", D("5.98"), 1)
    assert device.last_document().number == result.document_number
    tx = device.transaction_state()
    assert (tx.open, tx.items, tx.amount, tx.tendered) == (False, 3, D("5.98"), D("12.00"))
    [printed] = journal_receipts(sim)
    assert [line["name"] for line in printed["lines"]] == ["Bread", "Milk", "Apples"]
    assert printed["payments"] == [{"method": {"x": "1", "printer": "D",
                                               "register": "C"}[dialect],
                                    "amount": "2.00"},
                                   {"method": {"x": "0", "printer": "P",
                                               "register": "P"}[dialect],
                                    "amount": "10.00"}]
    assert {g: v for g, v in device.x_report().totals.items() if v} == TOTALS
    z = device.z_report()
    assert (z.number, z.total) == (1, D("5.98"))
    assert {g: v for g, v in z.totals.items() if v} == TOTALS
    assert device.z_report().total == 0
    assert sim.state["z_records"][0]["totals"]["B"] == "2.50"


def test_a_second_receipt_waits_for_the_open_one(sims: Any) -> None:
    sim = sims("x")
    device = sim.driver()
    device.link.request(Cmd.OPEN, b"1\t0000\t1\t\t")
    with pytest.raises(ReceiptOpen):
        device.print_receipt(RECEIPT, "sale-2")
    device.cancel_open_receipt()
    assert device.print_receipt(RECEIPT, "sale-2").receipt_number == 2
    assert sim.state["journal"][0]["outcome"] == "cancelled"


@pytest.mark.parametrize("dialect", FAMILIES)
def test_cancel_is_refused_once_payment_started(sims: Any, dialect: str) -> None:
    sim = sims(dialect, ["paper_out_after=6"])     # open, 3 lines, text, 1st payment
    device = sim.driver()
    with pytest.raises(PaperOut):
        device.print_receipt(RECEIPT, "sale-3")
    assert device.transaction_state().tendered == D("2.00")
    sim.inject(paper_out=0)
    with pytest.raises(CommandRejected, match="not allowed"):
        device.cancel_open_receipt()
    assert device.resume_receipt(RECEIPT, "sale-3").amount == D("5.98")
    assert len(journal_receipts(sim)) == 1


@pytest.mark.parametrize("dialect", FAMILIES)
def test_refunds_count_apart(sims: Any, dialect: str) -> None:
    sim = sims(dialect)
    device = sim.driver()
    sale = device.print_receipt(RECEIPT, "sale-4")
    refund = RefundReceipt(lines=(RECEIPT.lines[0],),
                           payments=(Payment(PaymentMethod.CASH, D("2.50")),),
                           original_number=sale.receipt_number,
                           original_time=datetime(2026, 3, 1, 12, tzinfo=UTC),
                           fiscal_memory="02000600", original_unp=UNP)
    device.print_refund(refund, "refund-1")
    origin = sim.state["journal"][-1]["origin"]
    assert (origin["fiscal_memory"], origin["unp"], origin["document"]) == (
        "02000600", UNP, str(sale.receipt_number))
    assert origin["reason"] == {"x": "1", "printer": "R", "register": "1"}[dialect]
    z = device.z_report()
    assert z.totals["B"] == D("2.50")
    # Only the X report carries storno totals (X 69: StorA..StorH; 1-byte 69 has none).
    if dialect == "x":
        assert {g: v for g, v in z.refund_totals.items() if v} == {"B": D("2.50")}
    else:
        assert z.refund_totals == {}
    assert sim.state["z_records"][0]["refund_totals"]["B"] == "2.50"


@pytest.mark.parametrize("dialect", FAMILIES)
def test_clock_vat_plu_display_and_non_fiscal_text(sims: Any, dialect: str) -> None:
    sim = sims(dialect)
    device = sim.driver()
    device.tz = timezone(timedelta(hours=2))
    moment = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    device.set_clock(moment)
    assert abs(device.get_clock() - moment) < timedelta(seconds=5)
    device.z_report()
    with pytest.raises(CommandRejected):
        device.set_clock(moment - timedelta(days=1))     # before the last fiscal record
    assert device.read_vat_rates() == {"A": D("0.00"), "B": D("20.00"), "C": D("9.00"),
                                       "D": D("5.00")}
    report = device.sync_plu([Plu(10, "Bread", D("1.30"), "B"), Plu(11, "Milk", D("0.99"), "C")])
    assert report.programmed == (10, 11) and not report.refused
    assert sim.state["plu"]["10"]["price"] == "1.30"
    device.display("Total", "5.98 EUR")
    assert sim.state["display"] == ["Total", "5.98 EUR"]
    device.print_nonfiscal(["Welcome", "x" * 50])
    assert sim.state["journal"][-1]["texts"] == ["Welcome", "x" * 40, "x" * 10]


def test_a_plu_with_turnover_keeps_its_name_and_group(sims: Any) -> None:
    sim = sims("x")
    device = sim.driver()
    device.sync_plu([Plu(10, "Bread", D("1.30"), "B")])
    device.link.request(Cmd.OPEN, b"1\t0000\t1\t\t")
    device.link.request(Cmd.SELL_PLU, b"10\t2\t")
    device.resume_receipt(FiscalReceipt((FiscalLine("Bread", D("2"), D("1.30"), "B"),),
                                        (Payment(PaymentMethod.CASH, D("2.60")),)), "sale-5")
    report = device.sync_plu([Plu(10, "Rye bread", D("1.30"), "B"),
                              Plu(10, "Bread", D("1.40"), "B")])
    assert report.programmed == (10,)
    assert report.refused == ((10, "plu has turnover"),)
    assert sim.state["plu"]["10"]["name"] == "Bread"


def test_a_duplicate_is_printed_once(sims: Any) -> None:
    sim = sims("byte")
    device = sim.driver()
    device.print_receipt(RECEIPT, "sale-6")
    device.print_duplicate()
    with pytest.raises(CommandRejected):
        device.print_duplicate()
    assert [d["kind"] for d in sim.state["journal"]] == ["sale", "duplicate"]


def test_a_new_link_is_not_mistaken_for_a_repeat(sims: Any) -> None:
    sim = sims("x")
    first = Link(TcpTransport("127.0.0.1", sim.port), Dialect.X)
    first.request(Cmd.STATUS)                 # SEQ 0x20
    first.request(Cmd.READ_CLOCK)             # SEQ 0x21: the device's last SEQ
    first.transport.close()
    second = Link(TcpTransport("127.0.0.1", sim.port), Dialect.X)
    sim.closables.append(second.transport)
    second._seq, second._synced = 0x20, True  # as if it started on the same SEQ
    assert second.request(Cmd.TX_STATUS).cmd == Cmd.TX_STATUS


# -- faults ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dialect", FAMILIES)
@pytest.mark.parametrize("fault", ["drop_answer", "bad_checksum", "nak"])
def test_a_lost_or_damaged_exchange_is_resent_with_the_same_seq(sims: Any, dialect: str,
                                                                 fault: str) -> None:
    sim = sims(dialect)
    device = sim.driver()
    device.status()
    sim.inject(**{fault: 1})
    result = device.print_receipt(RECEIPT, "sale-7")
    assert device.link.retransmissions == 1
    [printed] = journal_receipts(sim)
    assert len(printed["lines"]) == 3 and printed["amount"] == "5.98"
    assert result.receipt_number == 1


def test_the_driver_waits_through_syn_but_not_forever(sims: Any) -> None:
    sim = sims("x")
    device = sim.driver()
    sim.inject(syn=8)                          # ~0.5 s busy, longer than the answer timeout
    assert not device.status().errors
    assert device.link.retransmissions == 0
    device.link.max_syn = 3
    sim.inject(syn=8)
    with pytest.raises(DeviceUnavailable, match="busy"):
        device.status()


def test_no_answer_at_all_is_reported(sims: Any) -> None:
    sim = sims("x")
    device = sim.driver(max_writes=2)
    device.status()
    sim.inject(drop_answer=5)
    with pytest.raises(DeviceUnavailable, match="timeout"):
        device.status()


@pytest.mark.parametrize("dialect", FAMILIES)
def test_paper_out_mid_receipt_leaves_it_open_and_resumes(sims: Any, dialect: str) -> None:
    sim = sims(dialect, ["paper_out_after=2"])      # open, line 1, then no paper
    device = sim.driver()
    steps: list[tuple[ReceiptStep, int]] = []
    with pytest.raises(PaperOut) as refused:
        device.print_receipt(RECEIPT, "sale-8", lambda s, i: steps.append((s, i)))
    assert "out of paper" in str(refused.value)
    assert steps == [(ReceiptStep.OPENED, 1), (ReceiptStep.LINE, 1)]
    status = device.status()
    assert status.paper_out and status.receipt_open and not status.can_print
    tx = device.transaction_state()
    assert (tx.open, tx.items, tx.amount) == (True, 1, D("2.50"))
    with pytest.raises(PaperOut):
        device.resume_receipt(RECEIPT, "sale-8")
    sim.inject(paper_out=0)                          # the operator changed the roll
    device.resume_receipt(RECEIPT, "sale-8", lambda s, i: steps.append((s, i)))
    assert steps[2:] == [(ReceiptStep.LINE, 2), (ReceiptStep.LINE, 3), (ReceiptStep.TEXT, 1),
                         (ReceiptStep.PAID, 1), (ReceiptStep.PAID, 2),
                         (ReceiptStep.CLOSED, 1)]
    [printed] = journal_receipts(sim)
    assert [line["name"] for line in printed["lines"]] == ["Bread", "Milk", "Apples"]
    assert device.z_report().total == D("5.98")


def test_cover_open_is_a_clear_error(sims: Any) -> None:
    sim = sims("byte", ["cover_open=1"])
    device = sim.driver()
    assert device.status().errors == ("the printer cover is open",)
    with pytest.raises(CommandRejected, match="cover is open"):
        device.print_receipt(RECEIPT, "sale-9")
    assert sim.state["documents"] == 0


# -- power loss --------------------------------------------------------------------------------

@pytest.mark.parametrize("dialect", FAMILIES)
def test_kill_and_restart_keeps_the_open_receipt(sims: Any, dialect: str) -> None:
    sim = sims(dialect, ["paper_out_after=3"])
    device = sim.driver()
    with pytest.raises(PaperOut):
        device.print_receipt(RECEIPT, "sale-10")
    sim.restart()                                  # kill -9, same state directory
    sim.inject(paper_out=0)
    tx = device.transaction_state()                # the driver reconnects by itself
    assert (tx.open, tx.items, tx.amount) == (True, 2, D("3.39"))
    device.resume_receipt(RECEIPT, "sale-10")
    assert len(journal_receipts(sim)) == 1
    sim.restart()
    assert device.z_report().totals["D"] == D("2.59")


def test_power_cut_between_execution_and_answer_repeats_the_answer(sims: Any) -> None:
    sim = sims("x")
    device = sim.driver(answer_timeout=0.3, max_writes=40)
    device.status()
    sim.inject(die_before_answer=4)                # status, open, line 1, line 2: dies
    restarter = threading.Thread(target=lambda: (sim.reap(), sim.start()))
    restarter.start()
    result = device.print_receipt(RECEIPT, "sale-11")
    restarter.join()
    assert device.link.retransmissions >= 1
    [printed] = journal_receipts(sim)
    assert [line["name"] for line in printed["lines"]] == ["Bread", "Milk", "Apples"]
    assert result.amount == D("5.98") == D(printed["amount"])


def test_power_cut_then_recovery_from_the_device_state(sims: Any) -> None:
    sim = sims("byte")
    device = sim.driver(max_writes=2)
    device.status()
    sim.inject(die_before_answer=3)                # status, open, line 1 executed: dies
    with pytest.raises(DeviceUnavailable):
        device.print_receipt(RECEIPT, "sale-12")
    sim.reap()
    sim.start()
    tx = device.transaction_state()
    assert (tx.open, tx.items, tx.amount, tx.tendered) == (True, 1, D("2.50"), D("0"))
    device.resume_receipt(RECEIPT, "sale-12")
    [printed] = journal_receipts(sim)
    assert len(printed["lines"]) == 3


# -- serial ------------------------------------------------------------------------------------

def test_the_driver_over_a_serial_line(sims: Any) -> None:
    sim = sims("byte", use_pty=True)
    assert os.path.exists(sim.address)
    device = connect(SerialTransport(sim.address, 115200), "auto", answer_timeout=0.3)
    sim.closables.append(device)
    assert device.dialect is Dialect.BYTE
    assert device.print_receipt(RECEIPT, "sale-13").amount == D("5.98")
    wait_until(lambda: journal_receipts(sim), what="the receipt in the journal")


# -- command line ------------------------------------------------------------------------------

def test_printer_commands(sims: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tessera.cli import main

    sim = sims("x")
    sim.driver().print_receipt(RECEIPT, "sale-14")
    env = {"TESSERA_AGENT_CONFIG": str(tmp_path / "none.env"),
           "TESSERA_PRINTER_URL": f"datecs+tcp://127.0.0.1:{sim.port}?dialect=x"}
    runner = CliRunner()
    status = runner.invoke(main, ["agent", "printer", "status"], env=env)
    assert status.exit_code == 0, status.output
    assert "FP-700X serial DT000600" in status.output and "last document: 1" in status.output
    x = runner.invoke(main, ["agent", "printer", "x-report"], env=env)
    assert "VAT B: 2.50" in x.output and "total: 5.98" in x.output
    z = runner.invoke(main, ["agent", "printer", "z-report", "--yes"], env=env)
    assert z.exit_code == 0 and "Z report 1" in z.output
    sim.inject(paper_out=1)
    status = runner.invoke(main, ["agent", "printer", "status"], env=env)
    assert status.exit_code == 1 and "ERROR: out of paper" in status.output
    missing = runner.invoke(main, ["agent", "printer", "status"],
                            env={**env, "TESSERA_PRINTER_URL": ""})
    assert missing.exit_code == 2 and "TESSERA_PRINTER_URL" in missing.output


# -- what each family is sent ------------------------------------------------------------------

# Every command the driver can send, by family, from the manuals: the X manual has no 113
# (the document number comes from 56 and 76) and reads VAT with 50; the 1-byte families
# read VAT with 83 and the document number with 113, and open a refund with 46, not 43.
SENDS = {
    "x": {33, 35, 38, 39, 42, 43, 47, 48, 49, 50, 53, 54, 56, 60, 61, 62, 69, 74, 76, 90, 107,
          109},
    "printer": {33, 35, 38, 39, 42, 46, 47, 48, 49, 53, 54, 56, 60, 61, 62, 69, 74, 76, 83, 90,
                107, 109, 113},
}
SENDS["register"] = SENDS["printer"]


@pytest.mark.parametrize("dialect", FAMILIES)
def test_each_family_is_sent_only_commands_of_its_manual(sims: Any, dialect: str) -> None:
    from store_agent.fiscal.datecs_family import MANUAL_COMMANDS, Family

    sim = sims(dialect)
    device = sim.driver("auto")
    sent: list[int] = []
    request = device.link.request

    def recording(cmd: int, data: bytes = b"") -> Any:
        sent.append(int(cmd))
        return request(cmd, data)

    device.link.request = recording  # type: ignore[method-assign]
    device.identify(), device.status(), device.transaction_state(), device.last_document()
    device.read_vat_rates()
    device.sync_plu([Plu(10, "Bread", D("1.30"), "B")])
    sale = device.print_receipt(RECEIPT, "sale-walk")
    device.print_duplicate()
    device.link.request(Cmd.OPEN, (b"1\t0000\t1\t\t" if dialect == "x" else b"1,0000,1"))
    device.cancel_open_receipt()
    device.print_refund(RefundReceipt((RECEIPT.lines[0],), (Payment(PaymentMethod.CASH,
                                                                    D("2.50")),),
                                      sale.document_number, datetime.now(UTC), "02000600",
                                      original_unp=UNP), "refund-walk")
    device.print_nonfiscal(["hello"])
    device.display("a", "b")
    device.set_clock(datetime.now(UTC) + timedelta(minutes=1))
    device.get_clock()
    device.x_report(), device.z_report()
    walked = set(sent)
    assert walked == SENDS[dialect]
    assert walked <= MANUAL_COMMANDS[Family(dialect)]
    assert dialect != "x" or 113 not in walked
    # Every call above succeeded, so the simulator (which answers "invalid command" to
    # anything outside its family's manual) took each of them; and it does refuse 113 on X.
    from store_agent.fiscal.datecs_codec import decode_status

    answer = request(Cmd.LAST_DOC)
    assert answer.status is not None
    invalid = StatusFlag.INVALID_COMMAND in decode_status(device.dialect, answer.status).flags
    assert invalid is (dialect == "x")


def test_an_unknown_model_is_refused_by_name(sims: Any, tmp_path: Path) -> None:
    from store_agent.fiscal.datecs_family import UnsupportedModel
    from store_agent.fiscal.factory import open_device
    from store_agent.settings import load_printer

    sim = Sim(tmp_path / "odd", "printer", [], model="FP-9000")
    try:
        transport = TcpTransport("127.0.0.1", sim.port)
        with pytest.raises(UnsupportedModel, match="'FP-9000'"):
            connect(transport, "auto", answer_timeout=0.3)
        transport.close()
        printer = load_printer({"TESSERA_PRINTER_URL": f"datecs+tcp://127.0.0.1:{sim.port}",
                                "TESSERA_AGENT_CONFIG": str(tmp_path / "none.env")})
        assert printer is not None
        with pytest.raises(UnsupportedModel, match="none of the driver's manuals"):
            open_device(printer)
        assert sim.state["documents"] == 0        # nothing was printed on it
    finally:
        sim.stop()
