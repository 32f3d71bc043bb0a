"""Sales as the stores sent them: a list with filters and a sale's page (lines, adjustments
and their reasons, fiscal receipt, drift). Nobody edits a sale: these pages only read."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from central.console.pages import page_blueprint, render
from central.services import sales, store_activity, stores
from central.transactions import db_session

sales_bp = page_blueprint("sales", __name__)

PAGE_SIZE = 50
MAX_STORES = 1000


def _day(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@sales_bp.get("/sales")
def list_sales() -> ResponseReturnValue:
    db = db_session()
    all_stores = stores.list_stores(db, 1, MAX_STORES)[0]
    store = request.args.get("store") or None
    if store not in {s.code for s in all_stores}:
        store = None
    since, until = _day(request.args.get("since")), _day(request.args.get("until"))
    try:
        page_no = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page_no = 1
    rows, total = sales.list_sales(
        db, page_no, PAGE_SIZE, store=store,
        since=_midnight(since) if since else None,
        until=_midnight(until + dt.timedelta(days=1)) if until else None)
    pages = max(1, -(-total // PAGE_SIZE))
    keep: dict[str, Any] = {k: v for k, v in (("store", store), ("since", since),
                                              ("until", until)) if v}
    return render("sales/list.html", sales=rows, total=total, stores=all_stores, store=store,
                  since=since, until=until, page=page_no, pages=pages,
                  prev_url=url_for(".list_sales", page=page_no - 1, **keep)
                  if page_no > 1 else None,
                  next_url=url_for(".list_sales", page=page_no + 1, **keep)
                  if page_no < pages else None)


@sales_bp.get("/sales/<uuid>")
def sale(uuid: str) -> ResponseReturnValue:
    db = db_session()
    found = sales.get_sale(db, uuid)
    body = json.loads(found.body)
    wire_lines = body.get("lines") or []
    adjustments = [list((wire_lines[i] or {}).get("adjustments") or [])
                   if i < len(wire_lines) else [] for i in range(len(found.lines))]
    return render("sales/sale.html", sale=found, adjustments=adjustments,
                  drift=store_activity.drift_of(db, found))
