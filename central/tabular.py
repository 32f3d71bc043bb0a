"""Reading CSV and Excel files into rows of text, with their line numbers, streamed.

``open_table`` reads a CSV (comma, semicolon or tab; UTF-8 with or without BOM, UTF-16
with its BOM, or Windows-1252 / Latin-1 when the start of the file is not UTF-8) or an XLSX
workbook (its first sheet, through openpyxl's read-only mode) from a path or a binary
stream and yields one ``Row`` at a time: a file of any length is read in constant memory.
``read_table`` is the same for a small upload held in memory, as a list.

Header cells are normalised (``"Sale Price"`` -> ``sale_price``); columns with an empty
header are ignored; blank rows are skipped. A problem with the file itself (not a table,
no header, duplicate column names, a cell the CSV reader cannot hold) raises
``TabularError`` naming the line; a problem with one row (too many cells, a cell too long,
bytes that are not in the file's encoding) is reported on that row (``Row.error``) so that
an import can reject it and go on.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Literal

MAX_COLUMNS = 200
MAX_CELL = 10_000  # characters; Excel's own limit is 32,767
SAMPLE = 64 * 1024
# Bytes the CSV's encoding could not decode, kept as lone surrogates (surrogateescape) so
# that the row holding them is named rather than the 8 KiB chunk the decoder was reading.
_UNDECODED = re.compile("[\udc80-\udcff]")


class TabularError(ValueError):
    """A file that cannot be read as a table."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclass(frozen=True)
class Row:
    """One row: its line in the file (1 is the header) and its cells by column name.

    ``error`` says why the row cannot be used as it is (the values are still there, as
    far as they could be read, for a report of rejected rows).
    """

    line: int
    values: dict[str, str]
    error: str | None = None


@dataclass(frozen=True)
class Progress:
    """How far a read has come: ``done`` of ``total`` ``unit`` (total None when unknown)."""

    done: int
    total: int | None
    unit: Literal["bytes", "rows"]

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None


ProgressCallback = Callable[[Progress], None]
Source = str | os.PathLike[str] | IO[bytes]


def normalise_header(cell: object) -> str:
    return str(cell if cell is not None else "").strip().lower().replace(" ", "_")


class Table:
    """An open table: ``header`` is read, rows come one at a time by iterating.

    Use it as a context manager (or call ``close``): a file opened from a path is closed
    with it; a stream passed in is left open for its owner.
    """

    def __init__(self, kind: Literal["csv", "xlsx"], header: list[str], header_line: int,
                 rows: Iterator[Row], closers: list[Callable[[], object]]) -> None:
        self.kind = kind
        self.header = header
        self.header_line = header_line
        self._rows = rows
        self._closers = closers

    def __iter__(self) -> Iterator[Row]:
        return self._rows

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_table(source: Source, filename: str = "", *, progress: ProgressCallback | None = None,
               encoding: str | None = None, max_columns: int = MAX_COLUMNS,
               max_cell: int = MAX_CELL) -> Table:
    """Open a CSV or XLSX table from a path or a binary stream and read its header.

    ``encoding`` forces the CSV's encoding; by default it is UTF-8 (with or without BOM)
    unless the first 64 KiB are not UTF-8, then Windows-1252 (Latin-1 for the few bytes
    Windows-1252 leaves undefined). ``progress`` is called as the read advances: bytes of
    the file for a CSV, rows of the sheet for an XLSX (the total as the sheet declares it).
    """
    closers: list[Callable[[], object]] = []
    if isinstance(source, str | os.PathLike):
        filename = filename or os.fspath(source)
        try:
            stream: IO[bytes] = open(source, "rb")  # noqa: SIM115 - closed by the Table
        except OSError as exc:
            raise TabularError(f"cannot open {filename}: {exc.strerror}") from exc
        closers.append(stream.close)
    else:
        stream = source
    try:
        head = _peek(stream, 8)
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            raise TabularError("this is an Excel 97-2003 (.xls) file: save it as .xlsx or CSV")
        if filename.lower().endswith(".xlsx") or head.startswith(b"PK"):
            return _open_xlsx(stream, closers, progress, max_columns, max_cell)
        return _open_csv(stream, closers, progress, encoding, max_columns, max_cell)
    except BaseException:
        for close in reversed(closers):
            close()
        raise


def iter_table(source: Source, filename: str = "", **options: Any) -> Iterator[Row]:
    """The rows of a table, as a generator that closes the file when done or dropped."""
    with open_table(source, filename, **options) as table:
        yield from table


def read_table(data: bytes, filename: str = "") -> list[Row]:
    """Rows of a CSV (comma or semicolon, UTF-8 with or without BOM) or XLSX file in memory.

    For a small upload: a row with a problem (too many cells, a cell too long) fails the
    whole file, naming its line. Large files go through ``open_table``.
    """
    rows = []
    with open_table(io.BytesIO(data), filename) as table:
        for row in table:
            if row.error:
                raise TabularError(row.error, row.line)
            rows.append(row)
    return rows


# -- helpers ----------------------------------------------------------------------------------

def _peek(stream: IO[bytes], size: int) -> bytes:
    if hasattr(stream, "peek"):
        return bytes(stream.peek(size)[:size])
    if stream.seekable():
        position = stream.tell()
        data = stream.read(size)
        stream.seek(position)
        return data
    raise TabularError("the stream cannot be peeked at; pass a buffered or seekable stream")


def _size(stream: IO[bytes]) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        pass
    if stream.seekable():
        position = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(position)
        return end - position
    return None


def _header(cells: list[str], line: int, max_columns: int) -> list[str]:
    if len(cells) > max_columns:
        raise TabularError(f"the header has {len(cells)} columns, more than {max_columns}", line)
    header = [normalise_header(c) for c in cells]
    named = [h for h in header if h]
    if not named:
        raise TabularError("the header is empty: the first row must name the columns", line)
    duplicates = sorted({h for h in named if named.count(h) > 1})
    if duplicates:
        raise TabularError(f"duplicate column names: {', '.join(duplicates)}", line)
    return header


def _row(line: int, header: list[str], cells: list[str], max_columns: int,
         max_cell: int, encoding: str = "") -> Row:
    values = {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header) if h}
    error = None
    if len(cells) > max_columns:
        error = f"more than {max_columns} cells"
    elif any(_UNDECODED.search(text) for text in cells):
        error = (f"text that is not {encoding} (a byte shown as \ufffd); save the file as "
                 "UTF-8 or pass its encoding")
        values = {h: _UNDECODED.sub("\ufffd", v) for h, v in values.items()}
    else:
        for i, text in enumerate(cells):
            if len(text) > max_cell:
                name = header[i] if i < len(header) and header[i] else f"column {i + 1}"
                error = f"{name}: {len(text)} characters, more than {max_cell}"
                values = {h: v[:max_cell] for h, v in values.items()}
                break
    return Row(line, values, error)


# -- CSV --------------------------------------------------------------------------------------

class _Counting(io.RawIOBase):
    """A read-only view of a binary stream that reports the bytes read through it."""

    def __init__(self, stream: IO[bytes], total: int | None,
                 progress: ProgressCallback | None) -> None:
        self._stream = stream
        self._total = total
        self._progress = progress
        self.done = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.done += n
        if self._progress and n:
            self._progress(Progress(self.done, self._total, "bytes"))
        return n


def _encoding(sample: bytes, complete: bool) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        # A UTF-8 sequence cut at the end of the sample is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
    except UnicodeDecodeError:
        undefined = set(b"\x81\x8d\x8f\x90\x9d")
        return "latin-1" if undefined & set(sample) else "cp1252"
    return "utf-8"


def _looks_like_text(sample: bytes, encoding: str, complete: bool) -> bool:
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(sample, final=complete)
    except UnicodeDecodeError:
        return False
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text[:4096]):
        return False
    # Any even run of bytes after FF FE decodes as UTF-16 (mostly as CJK): a real table
    # has a line break or a separator somewhere.
    return not encoding.startswith("utf-16") or any(c in text for c in ",;\t\n")


def _open_csv(stream: IO[bytes], closers: list[Callable[[], object]],
              progress: ProgressCallback | None, encoding: str | None, max_columns: int,
              max_cell: int) -> Table:
    total = _size(stream)
    counting = _Counting(stream, total, progress)
    buffered = io.BufferedReader(counting, SAMPLE)
    sample = buffered.peek(SAMPLE)[:SAMPLE]
    if not sample:
        raise TabularError("the file is empty")
    detected = encoding is None
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = encoding or "utf-16"  # Excel's "Unicode text"
    if encoding is None and b"\x00" in sample[:4096]:
        raise TabularError("this is not a CSV or XLSX file (binary content)")
    encoding = encoding or _encoding(sample, len(sample) < SAMPLE)
    if detected and not _looks_like_text(sample, encoding, len(sample) < SAMPLE):
        raise TabularError("this is not a CSV or XLSX file (binary content)")
    text = io.TextIOWrapper(buffered, encoding=encoding, errors="surrogateescape", newline="")
    # Detach, not close: a stream passed in belongs to the caller.
    closers.append(text.detach)
    head = sample.decode(encoding, errors="replace")[:4096]
    first_line = head.splitlines()[0] if head else ""
    # Ties (a single column) go to the comma.
    delimiter = max(",;\t", key=first_line.count)
    # The reader's own limit would be one opaque error for the whole file; cells are
    # measured below instead, so allow them long enough to be measured.
    csv.field_size_limit(max(csv.field_size_limit(), max_cell * 4 + 1))
    reader = csv.reader(text, delimiter=delimiter)

    def records() -> Iterator[tuple[int, list[str]]]:
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise TabularError(f"not readable as CSV: {exc}", line) from exc
            # The first record is the header, even blank (then it is refused as such).
            if line == 1 or any(c.strip() for c in cells):
                yield line, [c.strip() for c in cells]

    found = records()
    try:
        header_line, header_cells = next(found)
    except StopIteration as exc:
        raise TabularError("the file is empty") from exc
    if any(_UNDECODED.search(c) for c in header_cells):
        raise TabularError(f"the header is not {encoding} text", header_line)
    header = _header(header_cells, header_line, max_columns)

    def rows() -> Iterator[Row]:
        for line, cells in found:
            yield _row(line, header, cells, max_columns, max_cell, encoding)
        if progress:
            progress(Progress(counting.done, total, "bytes"))

    return Table("csv", header, header_line, rows(), closers)


# -- XLSX -------------------------------------------------------------------------------------

def _open_xlsx(stream: IO[bytes], closers: list[Callable[[], object]],
               progress: ProgressCallback | None, max_columns: int, max_cell: int) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise TabularError(f"not a readable XLSX file ({exc.__class__.__name__}: {exc})") from exc
    closers.append(book.close)
    if not book.worksheets:
        raise TabularError("the workbook has no sheet")
    sheet = book.worksheets[0]
    try:
        total = sheet.max_row
    except Exception:  # noqa: BLE001 - a sheet without a dimension record
        total = None
    # A sheet that declares its size lets openpyxl stop at its last column; without one it
    # would pad every row to the widest, so cap the width it may read.
    lines = sheet.iter_rows(values_only=True, max_col=max_columns + 1)

    def records() -> Iterator[tuple[int, list[str]]]:
        line = 0
        for cells in lines:
            line += 1
            if progress and line % 1000 == 0:
                progress(Progress(line, total, "rows"))
            if line == 1 or any(c is not None and c != "" for c in cells):
                texts = [_cell(c) for c in cells]
                while texts and texts[-1] == "":
                    texts.pop()
                yield line, texts
        if progress:
            progress(Progress(line, max(line, total or 0), "rows"))

    found = records()
    try:
        header_line, header_cells = next(found)
    except StopIteration as exc:
        raise TabularError("the sheet is empty") from exc
    header = _header(header_cells, header_line, max_columns)

    def rows() -> Iterator[Row]:
        for line, cells in found:
            yield _row(line, header, cells, max_columns, max_cell)

    return Table("xlsx", header, header_line, rows(), closers)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # Excel stores numbers as binary floats; 2.1 is read back through its shortest
        # repr, which is the decimal the user typed.
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value).strip()

