"""Receipt profiles (SPEC S3): the chain's default and each store's override (header,
footer, logo, e-mail receipts), with a preview of the printed receipt.

The form becomes the REST API's wire form and is saved by ``central.services.receipts``
(whose checks decide). "Preview" runs the same save in a transaction that is rolled back,
so a profile is previewed exactly as it would be saved, and nothing is written. The preview
is ``rules.receipt_text.render_text``, the text the store itself prints, on a sample sale.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from central.api.access import now
from central.console.i18n import zone_of
from central.console.pages import field_messages, page_blueprint, render
from central.services import receipts, stores
from central.services.errors import NotFound, ServiceError
from central.transactions import db_session
from rules.receipt_text import WIDTH, render_text

receipts_bp = page_blueprint("receipts", __name__)

MAX_STORES = 1000
SAMPLE_SALE: dict[str, Any] = {
    "store": "", "number": 1234, "created_at": "2026-03-02T09:30:00+00:00", "total": "4.98",
    "discount": "0.20", "change": "5.02",
    "lines": [{"sku": "BREAD", "name": "White bread", "qty": "2", "unit_price": "1.15",
               "gross": "2.10", "adjustments": [{"kind": "discount", "reason": "staff",
                                                 "amount": "0.20"}]},
              {"sku": "MILK", "name": "Milk 1 l", "qty": "1", "unit_price": "2.88",
               "gross": "2.88"}],
    "vat": [{"rate": "9", "gross": "4.98", "vat": "0.41"}],
    "payments": [{"method": "cash", "amount": "10.00"}]}


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")] \
        if text.strip() else []


def _effective(scope: str, wire: dict[str, Any] | None) -> dict[str, Any]:
    """What the store prints: the override's fields over the default's."""
    db = db_session()
    default: dict[str, Any] = {}
    if scope != receipts.DEFAULT:
        try:
            default = receipts.wire(receipts.get(db, receipts.DEFAULT))
        except NotFound:
            default = {}
    if scope == receipts.DEFAULT:
        default, wire = wire or {}, {}
    wire = wire or {}
    return {name: wire.get(name) if wire.get(name) is not None else default.get(name)
            for name in ("header", "footer", "logo_png")}


def _preview(scope: str, wire: dict[str, Any] | None) -> dict[str, Any]:
    effective = _effective(scope, wire)
    store = None if scope == receipts.DEFAULT else stores.get_store(db_session(), scope)
    zone = zone_of(store) or dt.UTC
    name = store.name if store is not None else _("Your store")
    sale = dict(SAMPLE_SALE, store=scope)
    return {"lines": render_text(sale, effective, name, zone), "width": WIDTH,
            "logo": effective.get("logo_png")}


def _values(wire: dict[str, Any] | None) -> dict[str, Any]:
    wire = wire or {}
    email = wire.get("email") or {}
    return {"header": "\n".join(wire.get("header") or []),
            "footer": "\n".join(wire.get("footer") or []),
            "email_policy": email.get("policy") or "",
            "email_sender": email.get("sender") or "",
            "email_subject": email.get("subject") or "", "email_body": email.get("body") or "",
            "email_document_types": email.get("document_types") or [],
            "has_logo": wire.get("logo_png") is not None}


def _data(form: MultiDict[str, str], current: dict[str, Any] | None,
          scope: str) -> dict[str, Any]:
    """The wire form of the form. In an override an empty field inherits the default's."""
    inherit = scope != receipts.DEFAULT

    def text(name: str) -> str | None:
        value = form.get(name, "").strip()
        return value or None

    data: dict[str, Any] = {}
    for name in ("header", "footer"):
        lines = _lines(form.get(name, ""))
        data[name] = None if inherit and not lines else lines
    upload = request.files.get("logo")
    logo = upload.read(receipts.MAX_LOGO_BYTES + 1) if upload is not None else b""
    if logo:
        data["logo_png"] = base64.b64encode(logo).decode()
    elif form.get("remove_logo") != "on" and current and current.get("logo_png"):
        data["logo_png"] = current["logo_png"]
    types = form.getlist("email_document_types")
    data["email"] = {"policy": text("email_policy"), "sender": text("email_sender"),
                     "subject": text("email_subject"), "body": text("email_body"),
                     "document_types": types or None}
    return data


def _wire_or_none(scope: str) -> dict[str, Any] | None:
    try:
        return receipts.wire(receipts.get(db_session(), scope))
    except NotFound:
        if scope != receipts.DEFAULT:
            stores.get_store(db_session(), scope)  # an unknown store is a 404
        return None


@receipts_bp.get("/receipts")
def profiles() -> ResponseReturnValue:
    db = db_session()
    rows = receipts.list_profiles(db)
    own = {p.scope for p in rows}
    return render("receipts/list.html", profiles=rows,
                  stores=[s for s in stores.list_stores(db, 1, MAX_STORES)[0]
                          if s.code not in own])


def _page(scope: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    current = _wire_or_none(scope)
    context.setdefault("values", _values(current))
    context.setdefault("errors", {})
    context.setdefault("preview", _preview(scope, current))
    return render("receipts/profile.html", status=status, scope=scope, profile=current,
                  default=scope == receipts.DEFAULT, policies=receipts.POLICIES,
                  document_types=receipts.DOCUMENT_TYPES, max_lines=receipts.MAX_LINES,
                  line_width=receipts.LINE_WIDTH, **context)


@receipts_bp.route("/receipts/<scope>", methods=["GET", "POST"])
def profile(scope: str) -> ResponseReturnValue:
    if request.method == "GET":
        return _page(scope)
    db = db_session()
    current = _wire_or_none(scope)
    data = _data(request.form, current, scope)
    posted = dict(_values(data), has_logo=data.get("logo_png") is not None)
    try:
        saved = receipts.put(db, scope, data, now())
        wire = receipts.wire(saved)
        preview = _preview(scope, wire)
    except ServiceError as exc:
        db.rollback()
        return _page(scope, exc.status, values=posted, errors=field_messages(exc.errors),
                     error=exc.message, preview=None)
    if request.form.get("action") == "preview":
        db.rollback()  # shown as it would be saved; nothing written
        return _page(scope, values=posted, preview=preview, previewing=True)
    db.commit()
    return _page(scope, message=_("Saved: the stores print it from their next receipt."))


@receipts_bp.post("/receipts/<scope>/delete")
def delete_profile(scope: str) -> ResponseReturnValue:
    db = db_session()
    receipts.delete(db, scope)
    db.commit()
    return redirect(url_for(".profiles"), 303)
