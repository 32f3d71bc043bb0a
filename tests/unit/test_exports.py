"""CSV and XLSX exports: formula injection neutralised, values typed, downloads streamed."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from openpyxl import load_workbook

from central.exports import (
    CSV_TYPE,
    XLSX_TYPE,
    content_disposition,
    csv_chunks,
    csv_download,
    csv_text,
    write_csv,
    write_xlsx,
    xlsx_chunks,
    xlsx_download,
)

HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-2+3", "@SUM(A1)", "\tTab", "\rCR"]


@pytest.mark.parametrize("text", HOSTILE)
def test_csv_prefixes_formula_like_text_with_an_apostrophe(text: str) -> None:
    assert csv_text(text) == "'" + text


@pytest.mark.parametrize(("value", "text"), [
    ("Ștefan", "Ștefan"), ("D'Amico", "D'Amico"), ("a=b", "a=b"), (None, ""),
    (Decimal("-5.10"), "-5.10"), (-3, "-3"), (True, "true"),
    (dt.date(2026, 3, 1), "2026-03-01"),
    (dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC), "2026-03-01T09:30:00+00:00")])
def test_csv_writes_values_as_their_plain_text(value: object, text: str) -> None:
    assert csv_text(value) == text


def test_floats_are_refused_in_both_formats(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Decimal"):
        csv_text(1.5)
    with pytest.raises(TypeError, match="Decimal"):
        write_xlsx(tmp_path / "f.xlsx", ["a"], [[1.5]])


def test_a_csv_export_reads_back_with_its_quotes_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    write_csv(path, ["name", "note", "spend"],
              [["=cmd|'/C calc'!A0", 'say "hi", then\nleave', Decimal("-1.50")],
               ["Müller", "", Decimal("1000.00")]])
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows == [["name", "note", "spend"],
                    ["'=cmd|'/C calc'!A0", 'say "hi", then\nleave', "-1.50"],
                    ["Müller", "", "1000.00"]]


def test_csv_chunks_stream_a_large_export_in_pieces() -> None:
    chunks = list(csv_chunks(["n"], ([n] for n in range(50_000)), bom=False))
    assert len(chunks) > 3 and all(len(c) < 80_000 for c in chunks)
    assert b"".join(chunks).decode().splitlines()[-1] == "49999"


def test_an_xlsx_export_reads_back_with_hostile_names_as_text(tmp_path: Path) -> None:
    path = tmp_path / "customers.xlsx"
    moment = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    write_xlsx(path, ["name", "spend", "last_purchase", "card"],
               [[name, Decimal("-12.34"), moment, "2000000000015"] for name in HOSTILE]
               + [["bell\x07ring", 7, None, None]], title="Customers: list/1")
    book = load_workbook(path)
    sheet = book.active
    assert sheet is not None and sheet.title == "Customers_ list_1"
    rows = list(sheet.iter_rows(min_row=2))
    for row, name in zip(rows, HOSTILE, strict=False):
        # XML reads a carriage return back as a line feed; what matters is "not a formula".
        assert (row[0].value, row[0].data_type) == (name.replace("\r", "\n"), "s")
        assert (row[1].value, row[1].data_type) == (-12.34, "n")
        # Excel has no zones: the UTC wall time, read back naive.
        assert row[2].value == dt.datetime(2026, 3, 1, 7, 30, tzinfo=dt.UTC).replace(tzinfo=None)
        assert (row[3].value, row[3].data_type) == ("2000000000015", "s")
    assert rows[-1][0].value == "bellring" and rows[-1][1].value == 7
    assert [c.value for c in next(sheet.iter_rows(max_row=1))] == [
        "name", "spend", "last_purchase", "card"]


def test_xlsx_chunks_make_one_workbook() -> None:
    data = b"".join(xlsx_chunks(["n"], ([n] for n in range(5000))))
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    assert [r[0] for r in sheet.iter_rows(min_row=5001, values_only=True)] == [4999]


@pytest.mark.parametrize(("name", "header"), [
    ("customers.csv", 'attachment; filename="customers.csv"'),
    ("Clienți – Iași.xlsx", "attachment; filename=\"Clienti  Iasi.xlsx\"; "
                            "filename*=UTF-8''Clien%C8%9Bi%20%E2%80%93%20Ia%C8%99i.xlsx"),
    ('a"b;c.csv', "attachment; filename=\"a_b_c.csv\"; filename*=UTF-8''a%22b%3Bc.csv"),
    ("../../etc/passwd", 'attachment; filename="passwd"'),
    ("a\r\nSet-Cookie: x.csv", 'attachment; filename="aSet-Cookie: x.csv"'),
    ("", 'attachment; filename="download"'),
])
def test_content_disposition_follows_rfc_6266_and_5987(name: str, header: str) -> None:
    assert content_disposition(name) == header


def test_flask_downloads_are_streamed_with_type_and_file_name() -> None:
    app = Flask(__name__)
    produced: list[int] = []

    def rows() -> object:
        for n in range(20_000):
            produced.append(n)
            yield [f"=evil{n}", Decimal(n)]

    @app.get("/csv")
    def as_csv() -> object:
        return csv_download("Liste élèves.csv", ["name", "n"], rows())

    @app.get("/xlsx")
    def as_xlsx() -> object:
        return xlsx_download("list.xlsx", ["name", "n"], rows())

    client = app.test_client()
    answer = client.get("/csv", buffered=False)
    # The headers leave with the first chunk, long before the last row is made.
    assert answer.is_streamed and 0 < len(produced) < 20_000
    assert answer.headers["Content-Type"] == CSV_TYPE
    assert answer.headers["Content-Disposition"].endswith(
        "filename*=UTF-8''Liste%20%C3%A9l%C3%A8ves.csv")
    lines = answer.get_data().decode("utf-8-sig").splitlines()
    assert len(produced) == 20_000 and len(lines) == 20_001 and lines[1] == "'=evil0,0"
    answer.close()
    answer = client.get("/xlsx")
    assert answer.headers["Content-Type"] == XLSX_TYPE
    sheet = load_workbook(io.BytesIO(answer.get_data())).active
    assert sheet is not None and sheet["A2"].value == "=evil0" and sheet["A2"].data_type == "s"
