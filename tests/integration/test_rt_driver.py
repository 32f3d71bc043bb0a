"""The RT driver against the RT simulator over real HTTP: receipts, reports, every fault,
kill -9 and restart, and exactly-once fiscalisation when the printer's answer is lost."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from store_agent.fiscal.device import (
    CommandRejected,
    DeviceUnavailable,
    FiscalLine,
    FiscalReceipt,
    PaperOut,
    Payment,
    PaymentMethod,
    ReceiptOpen,
    ReceiptStep,
    RefundReceipt,
)
from store_agent.fiscal.fiscaliser import Fiscaliser, FiscalNotReady
from store_agent.fiscal.rt import RtConfig, RtDevice, open_rt
from store_agent.fiscal.rt_simulator import inject
from store_agent.sqlite_store import LocalStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RECEIPT = FiscalReceipt(
    (FiscalLine("Pane", Decimal(2), Decimal("1.20"), "B", discount=Decimal("0.12")),
     FiscalLine("Vino", Decimal(1), Decimal("7.50"), "A")),
    (Payment(PaymentMethod.CARD, Decimal("5.00")), Payment(PaymentMethod.CASH, Decimal(10))))
# Pane 2 x 1.20 - 0.12 = 2.28 (10%), Vino 7.50 (22%): 9.78


class Simulator:
    """``python -m store_agent.fiscal.rt_simulator`` on a free port, killable."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> Simulator:
        self._reap()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "store_agent.fiscal.rt_simulator", "--port", "0",
             "--state", str(self.state)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert "listening on" in line, line
        self.url = line.split()[-1]
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        if self.process is not None:
            self.process.wait(timeout=10)
            assert self.process.stdout is not None
            self.process.stdout.close()

    def wait_dead(self) -> int:
        assert self.process is not None
        return self.process.wait(timeout=10)

    def device(self, **config: Any) -> RtDevice:
        return open_rt(RtConfig(self.url, timeout=config.pop("timeout", 5.0), **config))

    def memory(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.state / "state.json").read_text())
        return state

    def receipts(self) -> list[dict[str, Any]]:
        return [e for e in self.memory()["journal"] if e["kind"] in ("sale", "refund")]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    simulator = Simulator(tmp_path / "rt").start()
    yield simulator
    simulator.kill()


def test_a_receipt_is_printed_counted_and_totalled_per_vat_group(sim: Simulator) -> None:
    device = sim.device()
    assert device.status().can_print and not device.status().receipt_open
    assert device.read_vat_rates() == {"A": Decimal("22.00"), "B": Decimal("10.00"),
                                       "C": Decimal("5.00"), "D": Decimal("4.00")}
    before = device.last_document()
    steps: list[tuple[ReceiptStep, int]] = []
    result = device.print_receipt(RECEIPT, "sale-1", lambda s, i: steps.append((s, i)))
    assert result.amount == Decimal("9.78") and result.receipt_number == 1
    assert result.document_number == before.number + 1 == device.last_document().number
    assert steps == [(ReceiptStep.OPENED, 1), (ReceiptStep.LINE, 1), (ReceiptStep.LINE, 2),
                     (ReceiptStep.PAID, 1), (ReceiptStep.PAID, 2), (ReceiptStep.CLOSED, 1)]
    tx = device.transaction_state()
    assert not tx.open and tx.amount == tx.tendered == Decimal("9.78")
    printed = sim.receipts()
    assert len(printed) == 1 and printed[0]["document"] == "0001-0001"
    assert [(i["department"], i["total"]) for i in printed[0]["items"]] == [("2", "2.28"),
                                                                            ("1", "7.50")]
    assert device.x_report().totals == {"A": Decimal("7.50"), "B": Decimal("2.28")}


def test_refunds_name_the_original_and_z_resets_the_period(sim: Simulator) -> None:
    device = sim.device()
    sale = device.print_receipt(RECEIPT, "sale-1")
    refund = RefundReceipt(RECEIPT.lines[1:], (Payment(PaymentMethod.CASH, Decimal("7.50")),),
                           sale.document_number, dt.datetime(2024, 3, 2, 10, 0, tzinfo=dt.UTC),
                           "99MEY000001")
    device.print_refund(refund, "refund-1")
    assert sim.receipts()[-1]["reference"] == "REFUND 0001 0001 02032024 99MEY000001"
    x = device.x_report()
    assert x.refund_totals == {"A": Decimal("7.50")}
    z = device.z_report()
    assert z.number == 1 and z.totals == x.totals
    assert device.last_document().z_number == 2
    assert device.x_report().totals == {}
    # Numbering restarts in the new period, still moving by one per receipt.
    before = device.last_document().number
    assert device.print_receipt(RECEIPT, "sale-2").document_number == before + 1


def test_a_vat_group_without_a_department_is_refused_before_sending(sim: Simulator) -> None:
    device = sim.device()
    receipt = FiscalReceipt((FiscalLine("Libro", Decimal(1), Decimal(10), "E"),),
                            (Payment(PaymentMethod.CASH, Decimal(10)),))
    with pytest.raises(CommandRejected, match="VAT group E"):
        device.print_receipt(receipt, "sale-1")
    assert sim.receipts() == []


def test_paper_out_is_a_refusal_and_nothing_is_printed(sim: Simulator) -> None:
    device = sim.device()
    before = device.last_document()
    inject(sim.state, paper_out=1)
    with pytest.raises(PaperOut):
        device.print_receipt(RECEIPT, "sale-1")
    assert device.last_document() == before and sim.receipts() == []
    inject(sim.state, paper_out=0)  # the roll is replaced
    assert device.print_receipt(RECEIPT, "sale-1").document_number == before.number + 1


def test_paper_running_out_during_the_receipt_refuses_it_whole(sim: Simulator) -> None:
    device = sim.device()
    inject(sim.state, paper_out_after=1)
    device.print_receipt(RECEIPT, "sale-1")
    with pytest.raises(PaperOut):
        device.print_receipt(RECEIPT, "sale-2")
    assert len(sim.receipts()) == 1 and device.transaction_state().amount == Decimal("9.78")


def test_an_offline_printer_is_unavailable(sim: Simulator) -> None:
    device = sim.device()
    before = device.last_document()
    inject(sim.state, offline=1)
    assert not device.status().can_print
    with pytest.raises(DeviceUnavailable, match="offline"):
        device.print_receipt(RECEIPT, "sale-1")
    assert device.last_document() == before
    inject(sim.state, offline=0)
    device.print_receipt(RECEIPT, "sale-1")
    assert len(sim.receipts()) == 1


def test_a_dropped_answer_leaves_the_counters_to_tell(sim: Simulator) -> None:
    device = sim.device()
    before = device.last_document()
    inject(sim.state, drop_answer=1)
    with pytest.raises(DeviceUnavailable):
        device.print_receipt(RECEIPT, "sale-1")
    # It was printed: the counter moved by one and the last amount is this receipt's.
    assert device.last_document().number == before.number + 1
    assert device.transaction_state().amount == RECEIPT.total
    assert len(sim.receipts()) == 1


def test_a_slow_answer_times_out_but_the_receipt_is_printed(sim: Simulator) -> None:
    inject(sim.state, slow=1, slow_ms=1500)
    impatient = sim.device(timeout=0.5)
    before = impatient.last_document()
    with pytest.raises(DeviceUnavailable, match="no answer"):
        impatient.print_receipt(RECEIPT, "sale-1")
    assert impatient.last_document().number == before.number + 1
    # A patient client gets the slow answer.
    inject(sim.state, slow=1, slow_ms=300)
    assert sim.device(timeout=5).print_receipt(RECEIPT, "sale-2").receipt_number == 2


def test_a_killed_simulator_restarts_with_its_counters(sim: Simulator) -> None:
    device = sim.device()
    device.print_receipt(RECEIPT, "sale-1")
    device.print_receipt(RECEIPT, "sale-2")
    last, totals = device.last_document(), device.x_report().totals
    sim.kill()
    with pytest.raises(DeviceUnavailable):
        device.status()
    sim.start()
    device = sim.device()
    assert device.last_document() == last
    assert device.x_report().totals == totals
    assert device.print_receipt(RECEIPT, "sale-3").document_number == last.number + 1


def test_power_cut_after_printing_before_answering(sim: Simulator) -> None:
    device = sim.device()
    before = device.last_document()
    inject(sim.state, die_before_answer=1)
    with pytest.raises(DeviceUnavailable):
        device.print_receipt(RECEIPT, "sale-1")
    assert sim.wait_dead() == 137
    sim.start()
    assert sim.device().last_document().number == before.number + 1


def test_a_document_left_open_on_the_keyboard_blocks_until_cancelled(sim: Simulator) -> None:
    device = sim.device()
    inject(sim.state, open_document=1)
    assert device.status().receipt_open and device.transaction_state().open
    with pytest.raises(ReceiptOpen):
        device.print_receipt(RECEIPT, "sale-1")
    device.cancel_open_receipt()
    assert not device.status().receipt_open
    device.print_receipt(RECEIPT, "sale-1")


# -- exactly once through the fiscaliser ------------------------------------------------------

def sale(uuid: str) -> dict[str, Any]:
    return {"uuid": uuid, "lines": [
        {"sku": "PANE", "name": "Pane", "qty": "2", "unit_price": "1.20", "amount": "2.28",
         "vat_rate": "10"},
        {"sku": "VINO", "name": "Vino", "qty": "1", "unit_price": "7.50", "amount": "7.50",
         "vat_rate": "22"}], "payments": [{"method": "card", "amount": "9.78"}]}


def enqueue(store: LocalStore, fiscal: Fiscaliser, uuid: str) -> None:
    with store.write() as conn:
        fiscal.enqueue(conn, uuid, fiscal.prepare(sale(uuid)), dt.datetime.now(dt.UTC))


def test_exactly_one_receipt_when_the_answer_is_lost(sim: Simulator, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    fiscal = Fiscaliser(store, sim.device())
    enqueue(store, fiscal, "sale-1")
    inject(sim.state, drop_answer=1)
    state = fiscal.fiscalise("sale-1")
    assert state.state == "printing" and "not answering" in (state.error or "")
    assert len(sim.receipts()) == 1  # printed all the same
    # Recovery: the counter moved by one and the amount is this sale's: recorded, not
    # printed again.
    fiscal.ensure_ready()
    first = fiscal.state_of("sale-1")
    assert first is not None and first.state == "done" and len(sim.receipts()) == 1
    enqueue(store, fiscal, "sale-2")
    second = fiscal.fiscalise("sale-2")
    assert second.state == "done"
    assert second.document_number == (first.document_number or 0) + 1
    assert [r["total"] for r in sim.receipts()] == ["9.78", "9.78"]
    reconciliation = fiscal.z_report()
    assert reconciliation.ok and reconciliation.jobs == 2


def test_exactly_one_receipt_across_a_printer_power_cut(sim: Simulator,
                                                        tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    fiscal = Fiscaliser(store, sim.device())
    enqueue(store, fiscal, "sale-1")
    inject(sim.state, die_before_answer=1)
    assert fiscal.fiscalise("sale-1").state == "printing"
    sim.wait_dead()
    assert fiscal.fiscalise("sale-1").state == "printing"  # still down: nothing decided
    with pytest.raises(FiscalNotReady, match="sale-1"):  # the next sale waits
        fiscal.ensure_ready()
    sim.start()
    fiscal = Fiscaliser(LocalStore(tmp_path / "agent.db"), sim.device())  # agent restarts
    fiscal.ensure_ready()
    done = fiscal.state_of("sale-1")
    assert done is not None and done.state == "done"
    assert len(sim.receipts()) == 1
    assert fiscal.z_report().ok
