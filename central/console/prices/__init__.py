"""Prices: a bulk change by percentage or amount, previewed row by row, then confirmed.

The preview and the confirmation run the same service call (``prices.bulk_adjust``), the
first without writing; the confirmation form carries the previewed parameters and the
number of rows shown, and is refused when the selection changed in between (someone edited
a product): the user previews again rather than applying what they did not see.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from marshmallow import ValidationError

from central.api.price_views import BulkIn
from central.console.pages import field_messages, page_blueprint, render
from central.services import catalog, prices
from central.services.errors import ServiceError
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
    """What a preview showed, in a few characters: every (sku, old, new) of its changes."""
    text = ";".join(f"{c['sku']}:{c['old']}:{c['new']}" for c in report.changes)
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
