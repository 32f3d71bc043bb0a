"""Tables written out as CSV or XLSX, streamed, safe to open in a spreadsheet.

Rows are written as they come (``csv`` writer; openpyxl's write-only workbook), so an
export of a million rows holds one row at a time (the XLSX is assembled in a temporary
file, which is then sent in chunks). A spreadsheet treats a cell beginning with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return as a formula: in CSV such a text is
prefixed with an apostrophe (OWASP's advice for CSV injection); in XLSX it is written as a
string cell, never as a formula, and keeps its exact text. Numbers (``int``, ``Decimal``)
and dates are written as values, not neutralised: ``Decimal("-5")`` is minus five.

``download`` wraps the chunks in a Flask response with the content type and a
``Content-Disposition`` whose file name survives any language (RFC 6266 / RFC 5987).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import IO, Any
from urllib.parse import quote

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 64 * 1024
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_START)


def csv_text(value: object) -> str:
    """The text of one CSV cell: values as their plain text, formula-like text defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        raise TypeError("money and quantities are Decimal, never float")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = str(value)
    return "'" + text if is_formula_like(text) else text


class CsvWriter:
    """Rows written one at a time as CSV to a text stream."""

    def __init__(self, stream: IO[str], columns: Sequence[str], *, delimiter: str = ",") -> None:
        self._writer = csv.writer(stream, delimiter=delimiter, lineterminator="\r\n")
        self._writer.writerow([csv_text(c) for c in columns])

    def write(self, values: Sequence[object]) -> None:
        self._writer.writerow([csv_text(v) for v in values])


def csv_chunks(columns: Sequence[str], rows: Iterable[Sequence[object]], *,
               delimiter: str = ",", bom: bool = True) -> Iterator[bytes]:
    """A CSV in UTF-8 as chunks of about 64 KiB, for a streamed download.

    With ``bom`` the file begins with a UTF-8 byte-order mark, which is how Excel knows
    the file is UTF-8 rather than the PC's code page.
    """
    buffer = io.StringIO()
    if bom:
        buffer.write("\ufeff")
    writer = CsvWriter(buffer, columns, delimiter=delimiter)
    for values in rows:
        writer.write(values)
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


# -- XLSX -------------------------------------------------------------------------------------

def _xlsx_value(value: object) -> Any:
    if isinstance(value, float):
        raise TypeError("money and quantities are Decimal, never float")
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        # Excel has no time zones: an aware moment is written as its UTC wall time.
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


class XlsxWriter:
    """Rows written one at a time to a write-only workbook of one sheet."""

    def __init__(self, columns: Sequence[str], *, title: str = "Export") -> None:
        from openpyxl import Workbook

        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet(title=_sheet_title(title))
        self.write(columns)

    def _cell(self, value: object) -> Any:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        if value is None or isinstance(value, float | bool | int | Decimal | dt.date):
            return _xlsx_value(value)
        # Control characters are not allowed in the file's XML; they carry nothing a
        # reader could see, so they go.
        text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
        cell = WriteOnlyCell(self._sheet, value=text)
        # openpyxl takes a text beginning with "=" for a formula: make it a string again.
        cell.data_type = "s"
        return cell

    def write(self, values: Sequence[object]) -> None:
        self._sheet.append([self._cell(v) for v in values])

    def add_sheet(self, columns: Sequence[str], *, title: str) -> None:
        """Write the next rows to a new sheet (a summary, then the raw rows)."""
        self._sheet = self._book.create_sheet(title=_sheet_title(title))
        self.write(columns)

    def save(self, target: str | os.PathLike[str] | IO[bytes]) -> None:
        self._book.save(target)

    def discard(self) -> None:
        """Drop an unfinished workbook and the temporary file its sheet was written to."""
        # openpyxl has no public way to abandon a write-only sheet: finish it, remove it.
        writer = getattr(self._sheet, "_writer", None)
        if writer is None:
            return
        try:
            self._sheet.close()
        finally:
            writer.cleanup()


def _sheet_title(title: str) -> str:
    cleaned = "".join("_" if c in "[]:*?/\\" else c for c in title).strip("'") or "Export"
    return cleaned[:31]


def xlsx_chunks(columns: Sequence[str], rows: Iterable[Sequence[object]], *,
                title: str = "Export") -> Iterator[bytes]:
    """An XLSX workbook as chunks: rows go to a write-only sheet, the file is sent after."""
    writer = _filled(XlsxWriter(columns, title=title), rows)
    with tempfile.TemporaryFile() as spool:
        writer.save(spool)
        spool.seek(0)
        while chunk := spool.read(CHUNK):
            yield chunk


def write_csv(path: str | os.PathLike[str], columns: Sequence[str],
              rows: Iterable[Sequence[object]], **options: Any) -> None:
    with open(path, "wb") as out:
        for chunk in csv_chunks(columns, rows, **options):
            out.write(chunk)


def write_xlsx(path: str | os.PathLike[str], columns: Sequence[str],
               rows: Iterable[Sequence[object]], *, title: str = "Export") -> None:
    _filled(XlsxWriter(columns, title=title), rows).save(path)


def _filled(writer: XlsxWriter, rows: Iterable[Sequence[object]]) -> XlsxWriter:
    try:
        for values in rows:
            writer.write(values)
    except BaseException:
        writer.discard()
        raise
    return writer


# -- downloads --------------------------------------------------------------------------------

def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """``attachment; filename="..."; filename*=UTF-8''...`` (RFC 6266 with RFC 5987).

    The plain ``filename`` is an ASCII fallback (accents dropped, quotes and separators
    replaced) for old clients; ``filename*`` carries the exact name percent-encoded.
    """
    name = os.path.basename(filename.replace("\\", "/")) or "download"
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = "".join("_" if c in '"\\;%' else c for c in folded).strip() or "download"
    header = f'{disposition}; filename="{fallback}"'
    if fallback != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


def download(chunks: Iterable[bytes], filename: str, mimetype: str) -> Any:
    """A streamed Flask response for a file download (the body is produced as it is sent).

    The generator runs inside the request's context (``stream_with_context``), so it may
    use the request's database session.
    """
    from flask import Response, stream_with_context

    response = Response(stream_with_context(iter(chunks)), content_type=mimetype)
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def csv_download(filename: str, columns: Sequence[str],
                 rows: Iterable[Sequence[object]]) -> Any:
    return download(csv_chunks(columns, rows), filename, CSV_TYPE)


def xlsx_download(filename: str, columns: Sequence[str],
                  rows: Iterable[Sequence[object]], *, title: str = "Export") -> Any:
    return download(xlsx_chunks(columns, rows, title=title), filename, XLSX_TYPE)
