"""Sales as the stores sent them: a list with filters and a sale's page (lines, adjustments
and their reasons, fiscal receipt, drift). Nobody edits a sale: these pages only read."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from central.console import export
from central.console.pages import page_blueprint, render
from central.services import points_reports, sales, store_activity, stores
from central.services.errors import Invalid
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


def _amount(value: str | None) -> Decimal | None:
    """A decimal amount typed in the filter (``12.50`` or ``12,50``); None when unreadable."""
    text = (value or "").strip().replace(",", ".")
    try:
        amount = Decimal(text) if text else None
    except InvalidOperation:
        return None
    return amount if amount is not None and amount.is_finite() else None


def _filters() -> dict[str, Any]:
    args = request.args
    return {"store": args.get("store") or None, "since": _day(args.get("since")),
            "until": _day(args.get("until")), "min_total": _amount(args.get("min_total")),
            "max_total": _amount(args.get("max_total")),
            "cashier": (args.get("cashier") or "").strip()[:64] or None}


def _browse(filters: dict[str, Any], after: str | None, limit: int) -> sales.SalePage:
    since, until = filters["since"], filters["until"]
    return sales.browse_sales(
        db_session(), store=filters["store"], since=_midnight(since) if since else None,
        until=_midnight(until + dt.timedelta(days=1)) if until else None,
        min_total=filters["min_total"], max_total=filters["max_total"],
        cashier=filters["cashier"], after=after, limit=limit)


@sales_bp.get("/sales")
def list_sales() -> ResponseReturnValue:
    db = db_session()
    all_stores = stores.list_stores(db, 1, MAX_STORES)[0]
    filters = _filters()
    if filters["store"] not in {s.code for s in all_stores}:
        filters["store"] = None
    after = request.args.get("after") or None
    try:
        found = _browse(filters, after, PAGE_SIZE)
    except Invalid:  # a cursor edited by hand: the first page
        after = None
        found = _browse(filters, None, PAGE_SIZE)
    keep: dict[str, Any] = {k: v for k, v in filters.items() if v is not None}
    return render("sales/list.html", found=found, stores=all_stores, filters=filters,
                  **export.export_links(".export_sales", **keep),
                  first_url=url_for(".list_sales", **keep) if after else None,
                  next_url=url_for(".list_sales", after=found.next_cursor, **keep)
                  if found.next_cursor else None)


EXPORT_HEADER = ("uuid", "store", "number", "sold_at", "till", "cashier", "total",
                 "fiscal_receipt", "fiscal_device")
EXPORT_CHUNK = 1000


@sales_bp.get("/sales/export.<fmt>")
def export_sales(fmt: str) -> ResponseReturnValue:
    """Every sale the list's filters select, newest first, as CSV or Excel."""
    filters = _filters()

    def rows() -> Iterator[tuple[Any, ...]]:
        after = None
        while True:
            found = _browse(filters, after, EXPORT_CHUNK)
            for s in found.sales:
                yield (s.uuid, s.store.code, s.number, s.sold_at, s.till, s.cashier, s.total,
                       s.fiscal_receipt, s.fiscal_device)
            if found.next_cursor is None:
                return
            after = found.next_cursor

    return export.table_response(fmt, "sales", EXPORT_HEADER, rows())


@sales_bp.get("/sales/<uuid>")
def sale(uuid: str) -> ResponseReturnValue:
    db = db_session()
    found = sales.get_sale(db, uuid)
    body = json.loads(found.body)
    wire_lines = body.get("lines") or []
    adjustments = [list((wire_lines[i] or {}).get("adjustments") or [])
                   if i < len(wire_lines) else [] for i in range(len(found.lines))]
    return render("sales/sale.html", sale=found, adjustments=adjustments,
                  drift=store_activity.drift_of(db, found), loyalty=body.get("loyalty"),
                  points=points_reports.entries_of_sale(db, found.uuid),
                  points_drift=points_reports.drift_of_sale(db, found.uuid))
