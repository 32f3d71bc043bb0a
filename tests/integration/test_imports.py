"""The import runner on PostgreSQL: a partner member list imported in batches, with a report
of every rejected row, idempotent when run again, and safe when it stops halfway."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from central.db import Database
from central.imports import ImportAborted, ImportResult, RejectReport, run_import
from central.models import PartnerCard
from central.services import changelog, partner_members, partners
from central.tabular import Row, open_table

pytestmark = pytest.mark.integration

ROWS = 1000
BATCH = 200
COLUMNS = ["number", "first", "last", "holder"]


def member_rows() -> tuple[list[list[str]], dict[int, str]]:
    """A member list with 1% bad rows; the bad rows' file lines and why they are bad."""
    rows: list[list[str]] = [["", "700000", "700999", "Range of the union's office"]]
    bad: dict[int, str] = {}
    for n in range(1, ROWS):
        line = n + 2
        if n % 100 == 0:
            kind = n // 100 % 3
            if kind == 0:
                rows.append(["12", "", "", ""])
                bad[line] = "number '12': 4 to 32 letters or digits"
            elif kind == 1:
                rows.append(["", "9000", "8000", ""])
                bad[line] = "first '9000' comes after last '8000'"
            else:
                rows.append([f"{n:06d}", "", "", "x" * 10_001])
                bad[line] = "holder: 10001 characters, more than 10000"
        elif n == 7:
            rows.append(["700500", "", "", ""])  # inside the range: already accepted
        else:
            rows.append([f"5{n:07d}", "", "", f"Membru {n} Ștefan"])
    return rows, bad


def write_member_list(path: Path, rows: list[list[str]]) -> None:
    if path.suffix == ".xlsx":
        book = Workbook(write_only=True)
        sheet = book.create_sheet("members")
        sheet.append(["Number", "First", "Last", "Holder"])
        for row in rows:
            sheet.append([cell or None for cell in row])
        book.save(path)
    else:
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, delimiter=";")
            writer.writerow(["Number", "First", "Last", "Holder"])
            writer.writerows(rows)


@pytest.fixture
def db(clean_pg_db: Database) -> Database:
    with clean_pg_db.transaction() as session:
        partners.create_programme(session, {"code": "UNION", "name": "Union", "percent": "5"})
    return clean_pg_db


def partners_version(db: Database) -> int:
    with db.sessions() as session:
        return changelog.heads(session).get(partners.BUCKET, 0)


def cards(db: Database) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(PartnerCard)) or 0


def run(db: Database, path: Path, tmp_path: Path, *, handler: Callable[[Session, Row], str]
        | None = None, apply: bool = True, tag: str = "report",
        progress: list[ImportResult] | None = None) -> ImportResult:
    with open_table(path) as table, RejectReport(
            table.header, csv_path=tmp_path / f"{tag}.csv",
            xlsx_path=tmp_path / f"{tag}.xlsx") as report:
        return run_import(table, handler or partner_members.member_handler("UNION"), db.sessions,
                          batch_size=BATCH, apply=apply, rejects=report,
                          progress=progress.append if progress is not None else None)


def report_lines(tmp_path: Path, tag: str = "report") -> tuple[dict[int, str], dict[int, str]]:
    with (tmp_path / f"{tag}.csv").open(encoding="utf-8-sig", newline="") as file:
        from_csv = list(csv.reader(file))
    assert from_csv[0] == ["line", "reason", *COLUMNS]
    sheet = load_workbook(tmp_path / f"{tag}.xlsx", read_only=True).worksheets[0]
    from_xlsx = list(sheet.iter_rows(values_only=True))
    assert list(from_xlsx[0]) == ["line", "reason", *COLUMNS]
    return ({int(r[0]): r[1] for r in from_csv[1:]},
            {int(r[0]): str(r[1]) for r in from_xlsx[1:] if r[0] is not None})


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_member_list_with_bad_rows_imports_the_rest_and_reports_exactly_the_bad_ones(
        db: Database, tmp_path: Path, suffix: str) -> None:
    rows, bad = member_rows()
    path = tmp_path / f"members{suffix}"
    write_member_list(path, rows)
    before = partners_version(db)
    progress: list[ImportResult] = []

    result = run(db, path, tmp_path, progress=progress)

    good = ROWS - len(bad)
    assert (result.rows, result.rejected, result.accepted) == (ROWS, len(bad), good)
    # 700500 is inside the office's range (no new entry) but its member is a new customer
    assert dict(result.outcomes) == {"created": good}
    assert result.batches == 5 and len(progress) == 5 and progress[-1].rows == ROWS
    from_csv, from_xlsx = report_lines(tmp_path)
    assert from_csv == bad and from_xlsx == bad
    assert cards(db) == good - 1
    assert partners_version(db) == before + good - 1  # one change per card, to every store
    with db.sessions() as session:
        card = partners.get_card(session, "UNION", "50000002")
        assert card.holder == "Membru 2 Ștefan"

    again = run(db, path, tmp_path, tag="again")

    assert dict(again.outcomes) == {"unchanged": good} and again.rejected == len(bad)
    assert report_lines(tmp_path, "again")[0] == bad
    assert cards(db) == good - 1 and partners_version(db) == before + good - 1


def test_a_changed_holder_is_updated_by_the_next_import(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_text("number,holder\n12345678,Ana\n23456789,Ion\n", encoding="utf-8")
    run(db, path, tmp_path)
    path.write_text("number,holder\n12345678,Ana Pop\n23456789,Ion\n", encoding="utf-8")
    result = run(db, path, tmp_path)
    assert dict(result.outcomes) == {"updated": 1, "unchanged": 1}
    with db.sessions() as session:
        assert partners.get_card(session, "UNION", "12345678").holder == "Ana Pop"


def test_a_preview_finds_the_bad_rows_and_writes_nothing(db: Database, tmp_path: Path) -> None:
    rows, bad = member_rows()
    path = tmp_path / "members.csv"
    write_member_list(path, rows)
    before = partners_version(db)
    result = run(db, path, tmp_path, apply=False)
    assert not result.applied and result.outcomes["created"] == ROWS - len(bad)
    assert report_lines(tmp_path)[0] == bad
    assert cards(db) == 0 and partners_version(db) == before


def test_an_import_that_fails_midway_keeps_its_committed_batches_and_can_run_again(
        db: Database, tmp_path: Path) -> None:
    rows, bad = member_rows()
    path = tmp_path / "members.csv"
    write_member_list(path, rows)
    real = partner_members.member_handler("UNION")

    def failing(session: Session, row: Row) -> str:
        if row.line == 534:
            raise RuntimeError("the database went away")
        return real(session, row)

    with pytest.raises(ImportAborted) as stopped:
        run(db, path, tmp_path, handler=failing)
    # Batches of 200 rows: lines 2-201, 202-401 committed; 402-601 rolled back.
    assert stopped.value.line == 402 and "the database went away" in str(stopped.value)
    creates = [line for line, row in enumerate(rows, start=2)
               if line not in bad and row[0] != "700500"]
    committed = sum(1 for line in creates if line < 402)
    assert stopped.value.result.rows == 400 and cards(db) == committed

    result = run(db, path, tmp_path)

    assert result.outcomes["unchanged"] == committed + 1
    assert result.outcomes["created"] == len(creates) - committed
    assert cards(db) == len(creates)


def test_a_file_that_turns_unreadable_keeps_every_row_before_it(db: Database,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    lines = ["number"] + [f"{10_000_000 + n}" for n in range(700)] + ["9" * 200_000, "12345678"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ImportAborted) as stopped:
        run(db, path, tmp_path)
    assert stopped.value.line == 702 and "not readable as CSV" in str(stopped.value)
    assert cards(db) == 700 and stopped.value.result.rows == 700


def test_rows_can_come_from_any_iterator(db: Database) -> None:
    def rows() -> Iterator[Row]:
        for n in range(5):
            yield Row(n + 2, {"number": f"4000000{n}"})

    result = run_import(rows(), partner_members.member_handler("UNION"), db.sessions, batch_size=2)
    assert result.batches == 3 and dict(result.outcomes) == {"created": 5} and cards(db) == 5
    with pytest.raises(ValueError, match="batch_size"):
        run_import(rows(), partner_members.member_handler("UNION"), db.sessions, batch_size=0)


def reltuples(db: Database, table: str) -> float:
    with db.sessions() as session:
        return float(session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = :t"),
                                    {"t": table}))


def test_an_import_keeps_the_planners_statistics_of_the_tables_it_grows(
        db: Database) -> None:
    """Without statistics a batch's look-ups are planned as scans of the whole table; the
    import analyzes its tables whenever they doubled since (tests share one database, so
    a table may start with an older ANALYZE of its own: what counts is what follows)."""
    with db.transaction() as session:
        session.execute(text("ANALYZE partner_cards, customers"))  # of the empty tables

    def rows() -> Iterator[Row]:
        for n in range(3000):
            yield Row(n + 2, {"number": f"6{n:07d}", "holder": f"Membru {n}"})

    handler = partner_members.member_handler("UNION")
    run_import(rows(), handler, db.sessions, batch_size=250)

    cards_stats, customer_stats = handler.statistics
    # at 1,000 rows, then at 2,000 (1,000 believed)... never more than twice wrong
    assert cards_stats.analyzed >= 2 and customer_stats.analyzed >= 2
    assert reltuples(db, "partner_cards") >= 1500 and reltuples(db, "customers") >= 1500

    again = partner_members.member_handler("UNION")
    run_import(rows(), again, db.sessions, batch_size=250)
    assert [s.analyzed for s in again.statistics] == [0, 0]  # nothing added: nothing to do


def test_the_command_line_checks_then_imports_with_a_report(db: Database,
                                                            tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "members.csv"
    path.write_text("number;holder\n12345678;Ana\n12;Bad\n23456789;Ion\n", encoding="utf-8")
    env = {"TESSERA_DATABASE_URL": db.url, "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "tessera", "central", "import-partner-cards", "UNION",
               str(path)]

    def tessera(*extra: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(command + list(extra), env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    checked = tessera()
    assert "3 rows checked" in checked.stdout and "2 created, 1 rejected" in checked.stdout
    assert "rejected line 3: number '12'" in checked.stderr and cards(db) == 0
    report = tmp_path / "rejected.xlsx"
    applied = tessera("--apply", "--report", str(report))
    assert "3 rows imported: 2 created, 1 rejected" in applied.stdout and cards(db) == 2
    sheet = load_workbook(report).worksheets[0]
    assert [c.value for c in sheet[2]] == [3, "number '12': 4 to 32 letters or digits", "12",
                                           "Bad"]
    again = tessera("--apply")
    assert "3 rows imported: 2 unchanged, 1 rejected" in again.stdout and cards(db) == 2
    unknown = subprocess.run([*command[:-2], "NOPE", str(path)], env=env, capture_output=True,
                             text=True, timeout=120)
    assert unknown.returncode == 2 and "no partner programme 'NOPE'" in unknown.stderr
