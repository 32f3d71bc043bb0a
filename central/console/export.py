"""The console's lists as CSV or Excel downloads: ``central.exports`` does the writing.

One implementation for the whole of central (``central/exports.py``): streamed, and safe
to open in a spreadsheet. A CSV text cell that a spreadsheet would run as a formula
(``= + - @``, a tab or a carriage return first) gets a leading apostrophe; in XLSX it is a
string cell holding its exact text, never a formula. Numbers stay numbers.

Every list page offers both, for the rows its filters select: ``export_links`` gives the
two URLs for the template (``layout/_export.html``), ``table_response`` answers the
``<list>/export.<fmt>`` route.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flask import abort, url_for

from central import exports

FORMATS = ("csv", "xlsx")


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Any:
    """A streamed CSV download (UTF-8 with BOM, so that Excel reads the accents)."""
    return exports.csv_download(filename, header, rows)


def xlsx_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]],
                  *, title: str = "Export") -> Any:
    """A streamed Excel (XLSX) download; text cells are strings, never formulas."""
    return exports.xlsx_download(filename, header, rows, title=title)


def table_response(fmt: str, name: str, header: Sequence[str],
                   rows: Iterable[Sequence[Any]]) -> Any:
    """``name``.csv or ``name``.xlsx as ``fmt`` asks; any other format is not found."""
    if fmt == "csv":
        return csv_response(f"{name}.csv", header, rows)
    if fmt == "xlsx":
        return xlsx_response(f"{name}.xlsx", header, rows, title=name)
    abort(404)


def export_links(endpoint: str, **args: Any) -> dict[str, str]:
    """``csv_url`` and ``xlsx_url`` of ``endpoint`` (a ``.../export.<fmt>`` route) with the
    list's filters, for ``layout/_export.html``."""
    keep = {k: v for k, v in args.items() if v is not None and v != ""}
    return {f"{fmt}_url": url_for(endpoint, fmt=fmt, **keep) for fmt in FORMATS}
