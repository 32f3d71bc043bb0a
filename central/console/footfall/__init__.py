"""Footfall (SPEC S7): visits per day, store and store-local hour, the conversion rate
(sales per 100 visits), as tables, SVG charts and an Excel export."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from central import exports
from central.charts import bar_chart
from central.console.pages import page_blueprint, render
from central.services import footfall, stores
from central.services.errors import Invalid
from central.transactions import db_session

footfall_bp = page_blueprint("footfall", __name__)

DEFAULT_DAYS = 7
COLUMNS = ("store", "day", "hour", "visits", "sales", "conversion_percent")


def _day(name: str, default: dt.date) -> dt.date:
    text = request.args.get(name, "").strip()
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{name}: not a date (YYYY-MM-DD)", {name: ["not a date"]}) from None


def _period() -> tuple[dt.date, dt.date, str | None]:
    today = dt.datetime.now(dt.UTC).date()
    until = _day("until", today)
    return _day("since", until - dt.timedelta(days=DEFAULT_DAYS - 1)), until, \
        request.args.get("store") or None


@footfall_bp.route("/footfall")
def footfall_page() -> ResponseReturnValue:
    since, until, store = _period()
    found = footfall.cells(db_session(), since, until, store)
    hours = footfall.by_hour(found)
    days = footfall.by_day(found)
    charts = [
        bar_chart(_("Visits per hour (store-local)"),
                  [(f"{h.label[0]:02d}", h.visits) for h in hours]),
        bar_chart(_("Conversion rate per hour"),
                  [(f"{h.label[0]:02d}", h.conversion) for h in hours], "%"),
        bar_chart(_("Visits per day"), _per_day(days)),
    ]
    rows, _total = stores.list_stores(db_session(), 1, 10000)
    query: dict[str, Any] = {"since": since.isoformat(), "until": until.isoformat()}
    if store:
        query["store"] = store
    return render("footfall/footfall.html", since=since, until=until, store=store,
                  all_stores=[s.code for s in rows], total=footfall.total(found), days=days,
                  hours=hours, charts=charts, query=query)


def _per_day(days: list[footfall.Line]) -> list[tuple[str, int | None]]:
    totals: dict[dt.date, int] = {}
    for line in days:
        totals[line.label[0]] = totals.get(line.label[0], 0) + line.visits
    return [(day.strftime("%m-%d"), visits) for day, visits in sorted(totals.items())]


@footfall_bp.route("/footfall.xlsx")
def footfall_export() -> ResponseReturnValue:
    since, until, store = _period()
    found = footfall.cells(db_session(), since, until, store)
    rows = ([c.store, c.day, c.hour, c.visits, c.sales, footfall.conversion(c.sales, c.visits)]
            for c in found)
    name = f"footfall-{since.isoformat()}-{until.isoformat()}{'-' + store if store else ''}"
    return exports.xlsx_download(f"{name}.xlsx", COLUMNS, rows, title="Footfall")
