"""Prices: the price entries (store and group overrides, scheduled changes) with a form to
add one; a bulk change by percentage or amount, or by a CSV/Excel file of new prices, each
previewed row by row, then confirmed.

The preview and the confirmation run the same service call (``prices.bulk_adjust``), the
first without writing; the confirmation form carries the previewed parameters and the
number of rows shown, and is refused when the selection changed in between (someone edited
a product): the user previews again rather than applying what they did not see.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import select

from central.api.access import now
from central.api.price_views import BulkIn, PriceIn
from central.console import export
from central.console.i18n import zone_of
from central.console.pages import field_messages, page_blueprint, render
from central.models import Store
from central.services import catalog, prices, stores
from central.services.errors import Invalid, ServiceError
from central.tabular import TabularError, read_table
from central.transactions import db_session

prices_bp = page_blueprint("prices", __name__)

MAX_CHOICES = 1000
FIELDS = ("field", "mode", "value", "category", "brand", "family")


def _choices() -> dict[str, Any]:
    db = db_session()
    return {"categories": catalog.list_categories(db, 1, MAX_CHOICES)[0],
            "brands": catalog.list_brands(db, 1, MAX_CHOICES)[0],
            "families": catalog.list_families(db, 1, MAX_CHOICES)[0]}


def digest(report: prices.BulkReport) -> str:
    """What a preview showed, in a few characters: every (sku, field, old, new) of its
    changes and every rejected line."""
    text = ";".join(f"{c['sku']}:{c.get('field', '')}:{c['old']}:{c['new']}"
                    for c in report.changes)
    text += "|" + ";".join(f"{r.get('line', r.get('sku'))}:{r.get('reason')}"
                           for r in report.rejected)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _page(values: dict[str, Any], status: int = 200, **context: Any) -> ResponseReturnValue:
    context.setdefault("errors", {})
    return render("prices/bulk.html", status=status, values=values, **context, **_choices())


@prices_bp.route("/prices/bulk", methods=["GET", "POST"])
def bulk() -> ResponseReturnValue:
    if request.method == "GET":
        return _page({"field": "sale_price", "mode": "percent"})
    values = {name: request.form.get(name, "").strip() for name in FIELDS}
    confirm = request.form.get("action") == "apply"
    data = {k: v for k, v in values.items() if v}
    data["preview"] = not confirm
    db = db_session()
    try:
        args = BulkIn().load(data)
        report = prices.bulk_adjust(
            db, args["field"], args["mode"], args["value"], category=args.get("category"),
            brand=args.get("brand"), family=args.get("family"), apply=False)
        if confirm:
            if digest(report) != request.form.get("expected"):
                db.rollback()
                return _page(values, 409, report=report, expected=digest(report), error=_(
                    "The products changed since the preview: check the new preview."))
            report = prices.bulk_adjust(
                db, args["field"], args["mode"], args["value"],
                category=args.get("category"), brand=args.get("brand"),
                family=args.get("family"), apply=True)
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return _page(values, 422, errors=field_messages(exc.messages))
    except ServiceError as exc:
        db.rollback()
        return _page(values, exc.status, errors=field_messages(exc.errors), error=exc.message)
    return _page(values, report=report, applied=confirm, expected=digest(report))


# -- price entries: overrides and scheduled changes ------------------------------------------

PAGE_SIZE = 100
SCOPES = ("all", "group", "store")


def _entry_filters() -> dict[str, Any]:
    args = request.args
    return {"sku": args.get("sku", "").strip()[:64] or None,
            "scope": args.get("scope") if args.get("scope") in SCOPES else None,
            "ref": args.get("ref", "").strip()[:64] or None}


def _entries_page(status: int = 200, **context: Any) -> ResponseReturnValue:
    db = db_session()
    filters = _entry_filters()
    try:
        page_no = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page_no = 1
    try:
        rows, total = prices.list_prices(db, page_no, PAGE_SIZE, **filters)
    except ServiceError as exc:  # an unknown SKU in the filter: say so, list nothing
        rows, total = [], 0
        context.setdefault("error", exc.message)
    keep = {k: v for k, v in filters.items() if v}
    context.setdefault("errors", {})
    context.setdefault("values", {"scope": "all"})
    return render("prices/entries.html", status=status, entries=rows, total=total,
                  filters=filters, page=page_no, pages=max(1, -(-total // PAGE_SIZE)),
                  now=now(), stores=stores.list_stores(db, 1, MAX_CHOICES)[0],
                  groups=stores.list_groups(db, 1, MAX_CHOICES)[0],
                  **export.export_links(".export_prices", **keep), **context)


def _moment(text: str, scope: str, ref: str | None) -> dt.datetime | None:
    """A ``datetime-local`` field in the store's time zone for a store price, UTC otherwise."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Invalid("bad moment", {"effective_from": [_("a date and time")]}) from None
    if moment.tzinfo is not None:
        return moment
    zone = None
    if scope == "store" and ref:
        zone = zone_of(db_session().scalar(select(Store).where(Store.code == ref)))
    return moment.replace(tzinfo=zone or dt.UTC)


@prices_bp.route("/prices", methods=["GET", "POST"])
def entries() -> ResponseReturnValue:
    if request.method == "GET":
        return _entries_page()
    form = {name: request.form.get(name, "").strip() for name in
            ("sku", "price", "scope", "ref", "effective_from")}
    db = db_session()
    try:
        scope = form["scope"] or "all"
        ref = form["ref"] or None
        moment = _moment(form["effective_from"], scope, ref)
        data = PriceIn().load({"sku": form["sku"], "price": form["price"].replace(",", "."),
                               "scope": scope, "ref": ref})
        prices.set_price(db, data["sku"], data["price"], data["scope"], data["ref"], moment,
                         now=now())
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return _entries_page(422, errors=field_messages(exc.messages), values=form)
    except ServiceError as exc:
        db.rollback()
        return _entries_page(exc.status, errors=field_messages(exc.errors), error=exc.message,
                             values=form)
    return redirect(url_for(".entries", sku=data["sku"]), 303)


@prices_bp.post("/prices/<int:entry_id>/delete")
def delete_entry(entry_id: int) -> ResponseReturnValue:
    db = db_session()
    entry = prices.delete_price(db, entry_id)
    sku = entry.product.sku
    db.commit()
    return redirect(url_for(".entries", sku=sku), 303)


PRICE_HEADER = ("id", "sku", "scope", "ref", "price", "effective_from", "created_at")


@prices_bp.get("/prices/export.<fmt>")
def export_prices(fmt: str) -> ResponseReturnValue:
    db = db_session()
    filters = _entry_filters()

    def rows() -> Any:
        page_no = 1
        while True:
            found, total = prices.list_prices(db, page_no, 1000, **filters)
            for e in found:
                yield (e.id, e.product.sku, e.scope, e.scope_ref or None, e.price,
                       e.effective_from, e.created_at)
            if page_no * 1000 >= total:
                return
            page_no += 1

    return export.table_response(fmt, "prices", PRICE_HEADER, rows())


# -- new prices from a file: preview, then confirm ------------------------------------------

MAX_FILE = 4 * 1024 * 1024  # carried back, base64, in the confirmation form (body ≤ 8 MiB)


def _file_page(status: int = 200, **context: Any) -> ResponseReturnValue:
    return render("prices/file.html", status=status, **context)


@prices_bp.route("/prices/file", methods=["GET", "POST"])
def price_file() -> ResponseReturnValue:
    """Upload a CSV/XLSX (sku, sale_price, purchase_cost): every row that would change and
    every rejected row are shown; the confirmation carries the same file back and applies
    only if its preview is still what was shown."""
    if request.method == "GET":
        return _file_page()
    confirm = request.form.get("action") == "apply"
    if confirm:
        try:
            data = base64.b64decode(request.form.get("content", ""), validate=True)
        except (binascii.Error, ValueError):
            data = b""
        name = request.form.get("filename", "")[:200]
    else:
        upload = request.files.get("file")
        data = upload.read(MAX_FILE + 1) if upload is not None else b""
        name = (upload.filename or "") if upload is not None else ""
    if not data:
        return _file_page(422, error=_("Choose a CSV or Excel file."))
    if len(data) > MAX_FILE:
        return _file_page(413, error=_("The file is larger than %(mib)s MiB: split it.",
                                        mib=MAX_FILE // (1024 * 1024)))
    try:
        rows = read_table(data, name)
    except TabularError as exc:
        return _file_page(422, error=_("The file cannot be read: %(reason)s", reason=str(exc)))
    db = db_session()
    report = prices.import_prices(db, rows, apply=False)
    if confirm:
        if digest(report) != request.form.get("expected"):
            db.rollback()
            return _file_page(409, report=report, expected=digest(report), filename=name,
                              content=base64.b64encode(data).decode(), error=_(
                                  "The products changed since the preview: check the new "
                                  "preview."))
        report = prices.import_prices(db, read_table(data, name), apply=True)
    db.commit()
    return _file_page(report=report, applied=confirm, expected=digest(report), filename=name,
                      content=base64.b64encode(data).decode())
