"""Reading CSV and Excel files into rows of text, with their line numbers."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass


class TabularError(ValueError):
    """A file that cannot be read as a table."""


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, str]


def _normalise(header: list[object]) -> list[str]:
    return [str(h or "").strip().lower().replace(" ", "_") for h in header]


def read_table(data: bytes, filename: str = "") -> list[Row]:
    """Rows of a CSV (comma or semicolon, UTF-8 with or without BOM) or XLSX file."""
    if filename.lower().endswith(".xlsx") or data[:2] == b"PK":
        return _read_xlsx(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TabularError("the file is not UTF-8 text, CSV or XLSX") from exc
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = _normalise(next(reader))
    except StopIteration as exc:
        raise TabularError("the file is empty") from exc
    rows = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        rows.append(Row(number, {h: (cells[i].strip() if i < len(cells) else "")
                                 for i, h in enumerate(header) if h}))
    return rows


def _read_xlsx(data: bytes) -> list[Row]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise TabularError(f"not a readable XLSX file: {exc.__class__.__name__}") from exc
    sheet = book.worksheets[0]
    lines = sheet.iter_rows(values_only=True)
    try:
        header = _normalise(list(next(lines)))
    except StopIteration as exc:
        raise TabularError("the sheet is empty") from exc
    rows = []
    for number, cells in enumerate(lines, start=2):
        if not any(c not in (None, "") for c in cells):
            continue
        rows.append(Row(number, {h: _cell(cells[i]) if i < len(cells) else ""
                                 for i, h in enumerate(header) if h}))
    return rows


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # Excel stores numbers as binary floats; 2.1 is read back through its shortest
        # repr, which is the decimal the user typed.
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value).strip()
