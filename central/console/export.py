"""Lists as CSV or Excel files, with spreadsheet formula injection neutralised.

A text cell that starts with ``= + - @`` (or a tab or carriage return) would be run as a
formula by Excel or LibreOffice when the file is opened; such cells get a leading
apostrophe, which spreadsheets show as plain text. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from flask import Response, stream_with_context
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def neutralise(value: Any) -> Any:
    """``value`` safe for a spreadsheet cell: text that could be a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal, float)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def csv_response(filename: str, header: Sequence[str],
                 rows: Iterable[Sequence[Any]]) -> Response:
    """A CSV download (UTF-8 with BOM, so that Excel reads the accents), streamed."""
    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")
        writer.writerow([neutralise(h) for h in header])
        for row in rows:
            writer.writerow([neutralise(v) for v in row])
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(stream_with_context(generate()), mimetype=CSV_TYPE,
                    headers=_attachment(filename))


def xlsx_response(filename: str, header: Sequence[str],
                  rows: Iterable[Sequence[Any]]) -> Response:
    """An Excel (XLSX) download; every text cell is stored as text, never as a formula."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet()

    def cells(values: Sequence[Any]) -> list[WriteOnlyCell]:
        result = []
        for value in values:
            safe = neutralise(value)
            cell = WriteOnlyCell(sheet, value=safe)
            if isinstance(safe, str):
                cell.data_type = "s"  # openpyxl would otherwise take "=..." as a formula
            result.append(cell)
        return result

    sheet.append(cells(header))
    for row in rows:
        sheet.append(cells(row))
    out = io.BytesIO()
    book.save(out)
    return Response(out.getvalue(), mimetype=XLSX_TYPE, headers=_attachment(filename))
