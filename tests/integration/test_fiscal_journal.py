"""The software fiscal journal and exactly-once fiscalisation, with real files and real
process kills: whatever step a crash interrupts, every sale ends with one fiscal receipt."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from store_agent.fiscal.device import (
    FiscalLine,
    FiscalReceipt,
    Payment,
    PaymentMethod,
    ReceiptStep,
)
from store_agent.fiscal.fiscaliser import (
    Fiscaliser,
    FiscalNotReady,
    VatNotMapped,
    receipt_from_sale,
)
from store_agent.fiscal.journal import SoftwareJournal, verify
from store_agent.sqlite_store import LocalStore
from tests.integration.fiscal_crash import KILL_POINTS, kill_while_fiscalising

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GROUPS = {Decimal("19.00"): "A", Decimal("9.00"): "B", Decimal("5.00"): "C"}


def sale(uuid: str, *lines: tuple[str, str, str, str, str],
         payments: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """lines: (sku, qty, unit price, amount after discounts, vat rate)."""
    return {"uuid": uuid, "lines": [{"sku": sku, "name": f"Item {sku}", "qty": qty,
                                     "unit_price": unit, "amount": amount, "vat_rate": rate}
                                    for sku, qty, unit, amount, rate in lines],
            "payments": payments or []}


BASKET = (("BREAD", "2", "1.20", "2.28", "9"), ("MILK", "1", "0.95", "0.95", "9"),
          ("WINE", "1", "7.50", "7.50", "19"))


def enqueue(store: LocalStore, fiscal: Fiscaliser, uuid: str) -> None:
    import datetime as dt
    with store.write() as conn:
        fiscal.enqueue(conn, uuid, fiscal.prepare(sale(uuid, *BASKET)), dt.datetime.now(dt.UTC))


def closed_receipts(journal: Path) -> list[str]:
    return [r["data"]["sale_id"] for r in map(json.loads, journal.read_text().splitlines())
            if r["kind"] == "close"]


def test_a_sale_becomes_a_receipt_with_discounts_and_vat_groups() -> None:
    receipt = receipt_from_sale(sale("s1", *BASKET, payments=[{"method": "card",
                                                               "amount": "5.00"}]), GROUPS)
    assert [(x.vat_group, x.total, x.discount) for x in receipt.lines] == [
        ("B", Decimal("2.28"), Decimal("0.12")), ("B", Decimal("0.95"), Decimal("0.00")),
        ("A", Decimal("7.50"), Decimal("0.00"))]
    assert receipt.total == Decimal("10.73")
    # The card paid 5.00; the rest of the total is cash.
    assert [(p.method, p.amount) for p in receipt.payments] == [
        (PaymentMethod.CARD, Decimal("5.00")), (PaymentMethod.CASH, Decimal("5.73"))]
    with pytest.raises(VatNotMapped, match="VAT rate 21.00%"):
        receipt_from_sale(sale("s2", ("X", "1", "1.00", "1.00", "21")), GROUPS)


def test_the_journal_chain_detects_edits_removals_and_reorders(tmp_path: Path) -> None:
    path = tmp_path / "fiscal.jsonl"
    journal = SoftwareJournal(path)
    line = FiscalLine("Bread", Decimal(1), Decimal("1.20"), "B")
    for n in range(3):
        journal.print_receipt(FiscalReceipt((line,), (Payment(PaymentMethod.CASH,
                                                               Decimal("2")),)), f"s{n}")
    good = verify(path)
    assert good.ok and good.records == 12
    text = path.read_text().splitlines()

    path.write_text("\n".join([text[0], text[1].replace('"1.20"', '"0.20"'), *text[2:]]) + "\n")
    assert "record 2 was altered" in verify(path).problem
    path.write_text("\n".join([text[0], *text[2:]]) + "\n")
    assert "record 2 is numbered 3" in verify(path).problem
    path.write_text("\n".join(text) + "\n")
    assert verify(path).ok

    # A write torn by a power cut never counted: it is cut when the journal opens.
    with open(path, "a") as handle:
        handle.write('{"n": 13, "prev": "ab')
    assert verify(path).torn_tail
    reopened = SoftwareJournal(path)
    assert verify(path).ok and not verify(path).torn_tail
    assert reopened.last_document().number == 3
    assert reopened.x_report().totals == {"B": Decimal("3.60")}


def test_fiscalised_in_order_and_the_z_report_reconciles(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    journal = SoftwareJournal(tmp_path / "fiscal.jsonl", vat_rates={"A": Decimal(19),
                                                                     "B": Decimal(9)})
    fiscal = Fiscaliser(store, journal)
    for n in range(3):
        enqueue(store, fiscal, f"sale-{n}")
    state = fiscal.fiscalise("sale-2")  # the earlier ones go first
    assert state.state == "done" and state.document_number == 3
    assert [fiscal.state_of(f"sale-{n}").document_number for n in range(3)] == [1, 2, 3]
    assert closed_receipts(tmp_path / "fiscal.jsonl") == ["sale-0", "sale-1", "sale-2"]

    reconciliation = fiscal.z_report()
    assert reconciliation.ok and reconciliation.jobs == 3
    assert reconciliation.z.totals == {"B": Decimal("9.69"), "A": Decimal("22.50")}
    # Nothing since: the next Z covers no job and finds nothing.
    assert fiscal.z_report().jobs == 0


def test_a_z_report_that_does_not_match_the_sales_is_reported(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    journal = SoftwareJournal(tmp_path / "fiscal.jsonl")
    fiscal = Fiscaliser(store, journal)
    enqueue(store, fiscal, "sale-1")
    fiscal.fiscalise("sale-1")
    # A receipt made on the device behind the agent's back.
    journal.print_receipt(FiscalReceipt((FiscalLine("Extra", Decimal(1), Decimal("4.00"),
                                                    "A"),),
                                        (Payment(PaymentMethod.CASH, Decimal(4)),)), "manual")
    result = fiscal.z_report()
    assert not result.ok
    assert result.mismatches == {"A": (Decimal("11.50"), Decimal("7.50"))}


def test_an_open_receipt_nobody_started_blocks_sales_until_resolved(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    journal = SoftwareJournal(tmp_path / "fiscal.jsonl")
    fiscal = Fiscaliser(store, journal)
    journal._append("open", {"document": 1, "sale_id": "foreign", "type": "sale"})
    enqueue(store, fiscal, "sale-1")
    assert fiscal.fiscalise("sale-1").state == "blocked"
    with pytest.raises(FiscalNotReady, match="sale-1"):
        fiscal.ensure_ready()
    journal.cancel_open_receipt()  # the operator clears the device
    # The job had not started printing: it prints now, once.
    fiscal.ensure_ready()
    assert closed_receipts(tmp_path / "fiscal.jsonl") == ["sale-1"]


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_killed_at_any_step_the_sale_gets_exactly_one_receipt(tmp_path: Path,
                                                              kill_at: str) -> None:
    kill_while_fiscalising(tmp_path, f"journal://{tmp_path}/fiscal.jsonl?vat=A:19,B:9,C:5",
                           kill_at, sale("sale-1", *BASKET))

    # The agent starts again: recovery runs before the next sale.
    store = LocalStore(tmp_path / "agent.db")
    journal = SoftwareJournal(tmp_path / "fiscal.jsonl")
    fiscal = Fiscaliser(store, journal)
    fiscal.ensure_ready()
    assert closed_receipts(tmp_path / "fiscal.jsonl") == ["sale-1"]
    state = fiscal.state_of("sale-1")
    assert state is not None and state.state == "done"
    assert state.document_number == journal.last_document().number
    assert verify(tmp_path / "fiscal.jsonl").ok
    reconciliation = fiscal.z_report()
    assert reconciliation.ok, reconciliation.mismatches
    assert reconciliation.z.total == Decimal("10.73")


def test_paper_out_leaves_the_receipt_open_and_it_is_finished_not_cancelled(
        tmp_path: Path) -> None:
    from store_agent.fiscal.device import DeviceStatus, PaperOut, StatusFlag

    class PaperRunsOut(SoftwareJournal):
        paper = True

        def print_receipt(self, receipt: FiscalReceipt, sale_id: str,
                          progress: Any = None) -> Any:
            def wrapped(step: ReceiptStep, index: int) -> None:
                if progress is not None:
                    progress(step, index)
                if step is ReceiptStep.LINE and index == 2 and self.paper:
                    self.paper = False
                    raise PaperOut(0x31, "out of paper",
                                   DeviceStatus(frozenset({StatusFlag.PAPER_OUT})))
            return super().print_receipt(receipt, sale_id, wrapped)

    store = LocalStore(tmp_path / "agent.db")
    journal = PaperRunsOut(tmp_path / "fiscal.jsonl")
    fiscal = Fiscaliser(store, journal)
    enqueue(store, fiscal, "sale-1")
    first = fiscal.fiscalise("sale-1")
    assert first.state == "printing" and "paper" in (first.error or "")
    assert journal.transaction_state().open
    fiscal.ensure_ready()  # the roll is replaced
    assert closed_receipts(tmp_path / "fiscal.jsonl") == ["sale-1"]
    kinds = [json.loads(x)["kind"] for x in (tmp_path / "fiscal.jsonl").read_text().splitlines()]
    assert "cancel" not in kinds and kinds.count("line") == 3


def test_the_operator_settles_what_recovery_cannot_decide(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from store_agent.fiscal.device import FiscalError
    from tessera.cli import main

    store = LocalStore(tmp_path / "agent.db")
    path = tmp_path / "fiscal.jsonl"
    journal = SoftwareJournal(path)
    fiscal = Fiscaliser(store, journal)
    for name in ("sale-1", "sale-2"):
        enqueue(store, fiscal, name)
    # sale-1 had started (counter noted), then two other documents came out of the device.
    with store.write() as conn:
        conn.execute("UPDATE fiscal_jobs SET state = 'printing', doc_before = 0 "
                     "WHERE sale_uuid = 'sale-1'")
    journal.print_nonfiscal(["keypad"])
    journal.print_nonfiscal(["keypad"])
    assert fiscal.fiscalise("sale-1").state == "blocked"
    with pytest.raises(FiscalNotReady):
        fiscal.ensure_ready()
    # The operator looked: no receipt of sale-1. It is printed now, then sale-2.
    assert fiscal.resolve_not_printed("sale-1").state == "done"
    fiscal.ensure_ready()
    assert closed_receipts(path) == ["sale-1", "sale-2"]
    with pytest.raises(FiscalError, match="already has its receipt"):
        fiscal.resolve_not_printed("sale-1")

    # sale-3 was printed, but the counter moved twice since: the operator finds it (CLI).
    enqueue(store, fiscal, "sale-3")
    before = journal.last_document().number
    with store.write() as conn:
        conn.execute("UPDATE fiscal_jobs SET state = 'printing', doc_before = ? "
                     "WHERE sale_uuid = 'sale-3'", (before,))
    printed = journal.print_receipt(receipt_from_sale(sale("sale-3", *BASKET), GROUPS),
                                    "sale-3")
    journal.print_nonfiscal(["keypad"])
    assert fiscal.fiscalise("sale-3").state == "blocked"
    env = {"TESSERA_STORE_CODE": "kiosk-1", "TESSERA_AGENT_DB": str(tmp_path / "agent.db"),
           "TESSERA_PRINTER_URL": f"journal://{path}",
           "TESSERA_AGENT_CONFIG": str(tmp_path / "none.env")}
    result = CliRunner().invoke(main, ["agent", "printer", "resolve", "sale-3", "--printed",
                                        str(printed.document_number)], env=env)
    assert result.exit_code == 0, result.output
    assert f"document {printed.document_number}" in result.output
    assert closed_receipts(path) == ["sale-1", "sale-2", "sale-3"]  # nothing printed again
    with store.read() as conn:
        reported = [r[0] for r in conn.execute("SELECT ref FROM outbox WHERE kind = 'fiscal' "
                                               "ORDER BY seq")]
    assert reported == ["fiscal:sale-1", "fiscal:sale-2", "fiscal:sale-3"]
    usage = CliRunner().invoke(main, ["agent", "printer", "resolve", "sale-3"], env=env)
    assert usage.exit_code != 0 and "either --printed" in usage.output


def test_the_command_line_verifies_the_journal_and_lists_its_records(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tessera.cli import main

    path = tmp_path / "fiscal.jsonl"
    journal = SoftwareJournal(path)
    journal.print_receipt(receipt_from_sale(sale("sale-1", *BASKET), GROUPS), "sale-1")
    env = {"TESSERA_PRINTER_URL": f"journal://{path}",
           "TESSERA_AGENT_CONFIG": str(tmp_path / "none.env")}
    runner = CliRunner()
    good = runner.invoke(main, ["agent", "journal", "verify"], env=env)
    assert good.exit_code == 0 and "6 records, chain intact" in good.output
    listed = runner.invoke(main, ["agent", "printer", "journal", "--last", "3"], env=env)
    assert listed.exit_code == 0
    assert [line.split()[2] for line in listed.output.splitlines()] == [
        "line", "payment", "close"]
    text = path.read_text().replace('"7.50"', '"0.75"')
    path.write_text(text)
    broken = runner.invoke(main, ["agent", "journal", "verify", str(path)])
    assert broken.exit_code == 1 and "BROKEN" in broken.output and "altered" in broken.output


def test_the_command_line_shows_a_simulators_receipts(tmp_path: Path) -> None:
    import json as json_mod

    from click.testing import CliRunner

    from tessera.cli import main

    state = tmp_path / "printer"
    state.mkdir()
    (state / "state.json").write_text(json_mod.dumps({"journal": [
        {"kind": "sale", "outcome": "closed", "document": 7, "amount": "2.10",
         "closed_at": "2026-11-29T09:00:00",
         "lines": [{"name": "White bread", "quantity": "1", "price": "2.10", "group": "B"}]},
        {"kind": "duplicate", "document": 8, "closed_at": "2026-11-29T09:01:00"}]}))
    result = CliRunner().invoke(main, ["agent", "printer", "journal", "--state", str(state)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("#7 sale closed") and "total 2.10" in lines[0]
    assert "White bread" in lines[1] and lines[2].startswith("#8 duplicate")
    missing = CliRunner().invoke(main, ["agent", "printer", "journal", "--state", str(tmp_path)])
    assert missing.exit_code != 0 and "no simulator state" in missing.output
