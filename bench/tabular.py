"""Memory of the streamed table reader and exports: peak Python allocations (tracemalloc)
while a generated N-row CSV and XLSX are read row by row, and while N rows are exported.

For contrast the same CSV is also read whole with ``read_table`` (what an upload does):
that peak grows with the file, the streamed ones should not.
"""

from __future__ import annotations

import gc
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from central import exports
from central.tabular import open_table, read_table

HEADER = ["external_id", "first_name", "last_name", "mobile", "email", "card"]


def _row(n: int) -> list[str]:
    return [f"X{n:08d}", f"Ștefan {n}", f"D'Amico-Müller {n % 977}", f"+4072{n:07d}",
            f"client{n}@example.ro", f"2000{n:08d}"]


def _measure(action: Callable[[], int]) -> dict[str, Any]:
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        count = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"rows": count, "peak_mib": round(peak / 2**20, 2),
            "seconds": round(time.perf_counter() - started, 2)}


def _count(path: Path) -> int:
    with open_table(path) as table:
        return sum(1 for _ in table)


def run(rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tessera-bench-tabular-") as folder:
        base = Path(folder)
        csv_path, xlsx_path = base / "members.csv", base / "members.xlsx"
        exports.write_csv(csv_path, HEADER, (_row(n) for n in range(rows)))
        book = Workbook(write_only=True)
        sheet = book.create_sheet("members")
        sheet.append(HEADER)
        for n in range(rows):
            sheet.append(_row(n))
        book.save(xlsx_path)
        quarter = base / "quarter.csv"
        exports.write_csv(quarter, HEADER, (_row(n) for n in range(rows // 4)))
        # tracemalloc makes openpyxl's writer very slow: the XLSX export is measured on a
        # tenth of the rows (its peak does not depend on them: rows go to a temporary file).
        result: dict[str, Any] = {
            "rows": rows,
            "csv_mib": round(csv_path.stat().st_size / 2**20, 1),
            "xlsx_mib": round(xlsx_path.stat().st_size / 2**20, 1),
            "csv_stream": _measure(lambda: _count(csv_path)),
            "csv_stream_quarter": _measure(lambda: _count(quarter)),
            "xlsx_stream": _measure(lambda: _count(xlsx_path)),
            "csv_whole": _measure(lambda: len(read_table(csv_path.read_bytes(), "m.csv"))),
            "csv_export": _measure(lambda: _export(exports.csv_chunks, rows)),
            "xlsx_export": _measure(lambda: _export(exports.xlsx_chunks, rows // 10)),
        }
    return result


def _export(chunks: Callable[..., Any], rows: int) -> int:
    size = 0
    for chunk in chunks(HEADER, (_row(n) for n in range(rows))):
        size += len(chunk)
    return rows


def explain_csv(figure: dict[str, Any]) -> str:
    return (f"tracemalloc peak of Python allocations reading a {figure['csv_mib']} MiB CSV "
            f"row by row ({figure['csv_stream']['seconds']} s); a quarter of the rows peaks "
            f"at {figure['csv_stream_quarter']['peak_mib']} MiB; the same file read whole "
            f"(read_table, as an upload) peaks at {figure['csv_whole']['peak_mib']} MiB; "
            f"a streamed CSV export of as many rows peaks at "
            f"{figure['csv_export']['peak_mib']} MiB")


def explain_xlsx(figure: dict[str, Any]) -> str:
    return (f"openpyxl read-only holds the workbook's shared-strings table whole (it grows "
            f"with the distinct texts, here {figure['xlsx_mib']} MiB of XLSX read in "
            f"{figure['xlsx_stream']['seconds']} s); the rows themselves stream; a write-only "
            f"XLSX export of {figure['xlsx_export']['rows']:,} rows peaks at "
            f"{figure['xlsx_export']['peak_mib']} MiB")


def run_import(db: Any, rows: int) -> dict[str, Any]:
    """Rows per second of ``central.imports.run_import`` on PostgreSQL with the partner
    member handler (one card and its change-log entry per row), then again (all unchanged),
    from a generated CSV with 1% bad rows."""
    from central.imports import RejectReport
    from central.imports import run_import as import_rows
    from central.services import partners

    with db.transaction() as session:
        partners.create_programme(session, {"code": "BENCH-MEMBERS", "name": "Bench members",
                                            "percent": "5"})
    handler = partners.card_row_handler("BENCH-MEMBERS")
    with tempfile.TemporaryDirectory(prefix="tessera-bench-import-") as folder:
        path = Path(folder) / "members.csv"
        exports.write_csv(path, ["number", "holder"],
                          ([f"{n:03d}" if n % 100 == 99 else f"7{n:09d}", f"Membru {n}"]
                           for n in range(rows)))
        passes = []
        for _ in range(2):
            started = time.perf_counter()
            with open_table(path) as table, RejectReport(
                    table.header, csv_path=Path(folder) / "rejected.csv") as report:
                result = import_rows(table, handler, db.sessions, batch_size=1000,
                                     rejects=report)
            seconds = time.perf_counter() - started
            passes.append({"seconds": round(seconds, 1), "rows_per_s": round(rows / seconds),
                           "outcomes": dict(result.outcomes), "rejected": result.rejected})
    first = passes[0]
    return {"rows": rows, "first": first, "again": passes[1],
            "seconds_for_200k": round(200_000 / first["rows_per_s"])}


def explain_import(figure: dict[str, Any]) -> str:
    again = figure["again"]
    return (f"each row: a savepoint, the card looked up by programme and number, inserted, "
            f"and its change-log entry (the head row's lock, the previous entry, the "
            f"checksum) — about ten statements; {figure['first']['rejected']} rows rejected "
            f"to the report; the same file again: {again['rows_per_s']:,} rows/s, "
            f"{again['outcomes']}; 200k rows would take about {figure['seconds_for_200k']} s")
