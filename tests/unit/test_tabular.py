"""Streamed reading of CSV and XLSX tables: rows, line numbers, encodings, errors, progress."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import Workbook

from central.tabular import (
    Progress,
    Row,
    TabularError,
    iter_table,
    open_table,
    read_table,
)

BIG = 200_000


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rows_of(data: bytes, filename: str = "", **options: object) -> list[Row]:
    with open_table(io.BytesIO(data), filename, **options) as table:  # type: ignore[arg-type]
        return list(table)


# -- CSV --------------------------------------------------------------------------------------

def test_semicolons_bom_blank_lines_and_a_cell_over_two_lines_keep_their_file_lines() -> None:
    data = 'SKU;Sale Price\r\nA;1,50\r\n\r\n"B\nsecond line";2\r\nC;3\r\n'.encode("utf-8-sig")
    with open_table(io.BytesIO(data)) as table:
        assert table.kind == "csv" and table.header == ["sku", "sale_price"]
        rows = list(table)
    assert [(r.line, r.values) for r in rows] == [
        (2, {"sku": "A", "sale_price": "1,50"}),
        (4, {"sku": "B\nsecond line", "sale_price": "2"}),
        (6, {"sku": "C", "sale_price": "3"})]


def test_short_rows_are_padded_and_unnamed_columns_ignored() -> None:
    assert [r.values for r in rows_of(b"a,,b\n1\n1,x,2,extra\n")] == [
        {"a": "1", "b": ""}, {"a": "1", "b": "2"}]


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_a_file_that_is_not_utf8_is_read_as_windows_1252(encoding: str) -> None:
    data = "nom;ville\nDésirée;Brașov\n".replace("ș", "s").encode(encoding)
    assert rows_of(data)[0].values == {"nom": "Désirée", "ville": "Brasov"}


def test_windows_1252_quotes_and_euro_sign() -> None:
    data = "name,note\nD\u2019Amico,\u20ac 5\n".encode("cp1252")
    assert rows_of(data)[0].values == {"name": "D\u2019Amico", "note": "\u20ac 5"}


def test_a_stray_latin1_byte_far_into_a_utf8_file_rejects_that_row_only() -> None:
    good = "name,city\n" + "Ștefan,București\n" * 10_000  # > 64 KiB of real UTF-8
    data = good.encode() + "Müller,Köln\n".encode("latin-1") + "Zoë,Gent\n".encode()
    rows = rows_of(data)
    assert len(rows) == 10_002
    bad = [r for r in rows if r.error]
    assert [r.line for r in bad] == [10_002]
    assert "not utf-8" in (bad[0].error or "") and bad[0].values["name"] == "M\ufffdller"
    assert rows[-1] == Row(10_003, {"name": "Zoë", "city": "Gent"})
    with pytest.raises(TabularError, match="line 10002: text that is not utf-8"):
        read_table(data)


def test_the_encoding_can_be_given() -> None:
    data = "name\nȘtefan\n".encode("utf-16")
    assert rows_of(data, encoding="utf-16")[0].values == {"name": "Ștefan"}


@pytest.mark.parametrize(("data", "message"), [
    (b"", "the file is empty"),
    (b"\r\n\r\nsku\r\nA\r\n", "line 1: the header is empty"),
    (b";;\nA;B\n", "line 1: the header is empty"),
    (b"Name,sku,name \n1,2,3\n", "line 1: duplicate column names: name"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, r"Excel 97-2003 \(.xls\)"),
    (b"PK\x03\x04 not really a zip", "not a readable XLSX file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV or XLSX file"),
    (bytes(range(1, 256)) * 20, "not a CSV or XLSX file"),  # no NUL, not UTF-8 either
    (b"\xff\xfe\x00garbage", "not a CSV or XLSX file"),  # "UTF-16" without a line break
    (",".join(f"c{i}" for i in range(201)).encode(), "line 1: the header has 201 columns"),
])
def test_files_that_are_no_table_are_refused_naming_the_line(data: bytes, message: str) -> None:
    with pytest.raises(TabularError, match=message):
        rows_of(data)


def test_a_row_with_too_many_cells_or_too_long_a_cell_is_flagged_and_reading_goes_on() -> None:
    data = ("sku,name\nA,ok\nB," + "x" * 10_001 + "\n" + "C," * 300 + "\nD,fine\n").encode()
    rows = rows_of(data)
    assert [(r.line, r.error) for r in rows] == [
        (2, None), (3, "name: 10001 characters, more than 10000"),
        (4, "more than 200 cells"), (5, None)]
    assert len(rows[1].values["name"]) == 10_000
    with pytest.raises(TabularError, match="line 3: name: 10001 characters"):
        read_table(data)


def test_limits_can_be_set_per_import() -> None:
    rows = rows_of(b"a,b,c\n1,22,3\n", max_columns=3, max_cell=1)
    assert rows[0].error == "b: 2 characters, more than 1"


def test_a_cell_beyond_the_csv_modules_limit_stops_the_read_at_its_line() -> None:
    data = b"a\n1\n" + b"x" * 200_000 + b"\n"
    with pytest.raises(TabularError, match="line 3: not readable as CSV"):
        rows_of(data)


def test_a_path_is_opened_and_closed_a_stream_is_left_open(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"a\n1\n2\n")
    table = open_table(path)
    stream = table._closers[0].__self__  # type: ignore[attr-defined]
    assert [r.values["a"] for r in table] == ["1", "2"]
    table.close()
    assert stream.closed
    given = io.BytesIO(b"a\n1\n")
    with open_table(given) as opened:
        list(opened)
    assert not given.closed
    with pytest.raises(TabularError, match="cannot open"):
        open_table(tmp_path / "missing.csv")


def test_iter_table_is_a_generator_over_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"a\n1\n2\n")
    assert [r.line for r in iter_table(path)] == [2, 3]


def test_a_stream_that_cannot_seek_is_read_without_a_total() -> None:
    reads: list[Progress] = []

    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            chunk = self._data.read(min(len(buffer), 1000))
            buffer[:len(chunk)] = chunk
            return len(chunk)

    data = b"a\n" + b"1\n" * 5000
    rows = rows_of_stream = list(open_table(io.BufferedReader(Pipe(data)), progress=reads.append))
    assert len(rows_of_stream) == len(rows) == 5000
    assert reads[-1] == Progress(len(data), None, "bytes")


# -- XLSX -------------------------------------------------------------------------------------

def test_xlsx_rows_keep_their_sheet_lines_and_numbers_read_as_typed() -> None:
    data = xlsx_bytes([["SKU", "Sale Price", None], ["A", 2.1, None], [], [None, None],
                       ["B", 3.0, "extra"], ["C", 12345678901234, None]])
    with open_table(io.BytesIO(data)) as table:
        assert table.kind == "xlsx" and table.header == ["sku", "sale_price"]
        rows = list(table)
    assert [(r.line, r.values) for r in rows] == [
        (2, {"sku": "A", "sale_price": "2.1"}), (5, {"sku": "B", "sale_price": "3"}),
        (6, {"sku": "C", "sale_price": "12345678901234"})]


def test_xlsx_header_problems_and_long_cells() -> None:
    with pytest.raises(TabularError, match="line 1: duplicate column names: a"):
        rows_of(xlsx_bytes([["a", "A"], [1, 2]]))
    with pytest.raises(TabularError, match="line 1: the header is empty"):
        rows_of(xlsx_bytes([[None], ["a"], [1]]))
    with pytest.raises(TabularError, match="the sheet is empty"):
        rows_of(xlsx_bytes([]))
    rows = rows_of(xlsx_bytes([["a", "b"], ["x" * 10_001, "y"], ["1", "2"]]))
    assert [(r.line, r.error) for r in rows] == [
        (2, "a: 10001 characters, more than 10000"), (3, None)]
    wide = rows_of(xlsx_bytes([["a"], list(range(300))]))
    assert wide[0].error == "more than 200 cells"


def test_read_table_keeps_working_for_uploads() -> None:
    assert read_table(xlsx_bytes([["sku"], ["A"]]), "p.xlsx") == [Row(2, {"sku": "A"})]
    assert read_table(b"sku\nA\n", "p.csv") == [Row(2, {"sku": "A"})]


# -- 200k rows, from a path, with progress ------------------------------------------------------

def test_a_200k_row_csv_is_read_row_by_row_with_byte_progress(tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("external_id;name;mobile\r\n")
        for n in range(BIG):
            out.write(f"X{n};Ștefan {n};+4072{n:07d}\r\n")
    seen: list[Progress] = []
    count, last = 0, None
    with open_table(path, progress=seen.append) as table:
        for row in table:
            count += 1
            last = row
    assert count == BIG and last == Row(BIG + 1, {"external_id": f"X{BIG - 1}",
                                                  "name": f"Ștefan {BIG - 1}",
                                                  "mobile": f"+4072{BIG - 1:07d}"})
    size = path.stat().st_size
    assert len(seen) > 100 and seen[-1] == Progress(size, size, "bytes")
    assert all(a.done <= b.done for a, b in zip(seen, seen[1:], strict=False))


def test_a_200k_row_xlsx_is_read_row_by_row_with_row_progress(tmp_path: Path) -> None:
    path = tmp_path / "members.xlsx"
    book = Workbook(write_only=True)
    sheet = book.create_sheet("members")
    sheet.append(["external_id", "name", "mobile"])
    for n in range(BIG):
        sheet.append([f"X{n}", f"Ștefan {n}", f"+4072{n:07d}"])
    book.save(path)
    seen: list[Progress] = []
    count, last = 0, None
    with open_table(path, progress=seen.append) as table:
        for row in table:
            count += 1
            last = row
    assert count == BIG and last is not None and last.line == BIG + 1
    assert last.values["name"] == f"Ștefan {BIG - 1}"
    assert seen[-1].done == BIG + 1 and seen[-1].unit == "rows"


def test_excel_unicode_text_is_utf16_with_tabs() -> None:
    data = "name\tcity\r\nȘtefan\tIași\r\n".encode("utf-16")
    assert rows_of(data)[0].values == {"name": "Ștefan", "city": "Iași"}
