"""Customers imported from a file with the streamed import runner: every bad row reported
with its reason, nothing of it kept; the same file again changes nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from central.db import Database
from central.imports import RejectReport, run_import
from central.models import Change, Customer
from central.services import customer_imports, customers
from central.tabular import open_table
from tests.integration.test_customers import card, misread

pytestmark = pytest.mark.integration

ROWS = 600
BAD = {7: "email", 123: "mobile", 250: "card", 499: "birth_date", 598: "extra.colour"}


@pytest.fixture
def db(clean_pg_db: Database) -> Iterator[Database]:
    yield clean_pg_db


def write_file(path: Path) -> None:
    lines = ["external_id;first_name;last_name;email;mobile;card;birth_date;extra.colour"]
    for n in range(ROWS):
        row = [f"EXT-{n}", f"Name{n}", "Rossi", f"p{n}@example.com", f"+39 347 {n:07d}",
               card(1000 + n), "1980-01-02", ""]
        match BAD.get(n):
            case "email":
                row[3] = "not-an-address"
            case "mobile":
                row[4] = "12"
            case "card":
                row[5] = misread(1000 + n)
            case "birth_date":
                row[6] = "1980-13-40"
            case "extra.colour":
                row[7] = "red"
        lines.append(";".join(row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def counts(db: Database) -> tuple[int, int]:
    with db.sessions() as session:
        return (int(session.scalar(select(func.count()).select_from(Customer)) or 0),
                int(session.scalar(select(func.count()).select_from(Change)) or 0))


def test_an_import_reports_exactly_the_bad_rows_and_a_second_run_changes_nothing(
        db: Database, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    write_file(path)
    report = tmp_path / "rejected.xlsx"
    with open_table(path) as table, RejectReport(table.header, xlsx_path=report) as rejects:
        result = run_import(table, customer_imports.row_handler(), db.sessions, batch_size=100,
                            rejects=rejects)
    assert (result.rows, result.rejected, dict(result.outcomes)) == (
        ROWS, len(BAD), {"created": ROWS - len(BAD)})
    sheet = load_workbook(report).worksheets[0]
    reported = [(row[0], row[1]) for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert [line for line, _ in reported] == [n + 2 for n in sorted(BAD)]
    for (_line, reason), n in zip(reported, sorted(BAD), strict=True):
        assert str(reason).startswith(BAD[n] + ":"), reason
    assert counts(db)[0] == ROWS - len(BAD)
    before = counts(db)
    with open_table(path) as table:
        again = run_import(table, customer_imports.row_handler(), db.sessions, batch_size=100)
    assert dict(again.outcomes) == {"unchanged": ROWS - len(BAD)} and again.rejected == len(BAD)
    assert counts(db) == before  # not one customer, not one change more


def test_a_row_matched_by_card_or_mobile_updates_that_customer(db: Database,
                                                               tmp_path: Path) -> None:
    with db.transaction() as session:
        ana = customers.create(session, {"first_name": "Ana", "mobile": "+393470000001",
                                         "cards": [{"number": card(1)}]}).id
        ion = customers.create(session, {"first_name": "Ion", "mobile": "+393470000002"}).id
    path = tmp_path / "update.csv"
    path.write_text("card,mobile,city\n"
                    f"{card(1)},,Roma\n"
                    ",347 000 0002,Iasi\n", encoding="utf-8")
    with open_table(path) as table:
        result = run_import(table, customer_imports.row_handler(), db.sessions)
    assert dict(result.outcomes) == {"updated": 2}
    with db.sessions() as session:
        assert customers.wire(customers.get(session, ana))["city"] == "Roma"
        assert customers.wire(customers.get(session, ion))["city"] == "Iasi"


def test_the_command_line_checks_then_imports(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "few.csv"
    path.write_text("external_id;last_name;email\nA;Rossi;a@example.com\nB;Bianchi;nope\n",
                    encoding="utf-8")
    env = {"TESSERA_DATABASE_URL": db.url, "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "tessera", "central", "import-customers", str(path)]
    checked = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stderr
    assert "2 rows checked" in checked.stdout and "1 created, 1 rejected" in checked.stdout
    assert "rejected line 3: email" in checked.stderr and counts(db)[0] == 0
    applied = subprocess.run([*command, "--apply"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert "2 rows imported: 1 created, 1 rejected" in applied.stdout and counts(db)[0] == 1
