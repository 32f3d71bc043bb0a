"""Cashiers (SPEC S8): list, create, change name, PIN, stores and activity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from central.api.cashier_views import CashierIn, CashierPatch
from central.console import export
from central.console.pages import field_messages, page_blueprint, render
from central.services import cashiers, stores
from central.services.errors import ServiceError
from central.transactions import db_session

cashiers_bp = page_blueprint("cashiers", __name__)

PAGE_SIZE = 100


def _store_codes() -> list[str]:
    rows, _total = stores.list_stores(db_session(), 1, 10000)
    return [s.code for s in rows]


def _list(status: int = 200, errors: dict[str, list[str]] | None = None,
          message: str | None = None, values: Any = None) -> ResponseReturnValue:
    try:
        page_no = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page_no = 1
    store = request.args.get("store") or None
    rows, total = cashiers.list_cashiers(db_session(), page_no, PAGE_SIZE, store)
    return render("cashiers/list.html", status=status, cashiers=rows, total=total,
                  page=page_no, pages=max(1, -(-total // PAGE_SIZE)), store=store,
                  all_stores=_store_codes(), errors=errors or {}, message=message,
                  values=values or {}, **export.export_links(".export_cashiers", store=store))


CASHIER_HEADER = ("code", "name", "stores", "active")
EXPORT_CHUNK = 500


@cashiers_bp.get("/cashiers/export.<fmt>")
def export_cashiers(fmt: str) -> ResponseReturnValue:
    """The cashiers of the list (its store filter) as CSV or Excel; never their PINs."""
    db = db_session()
    store = request.args.get("store") or None

    def rows() -> Iterator[tuple[Any, ...]]:
        page_no = 1
        while True:
            found, total = cashiers.list_cashiers(db, page_no, EXPORT_CHUNK, store)
            for c in found:
                yield (c.code, c.name, " ".join(s.code for s in c.stores), c.active)
            if page_no * EXPORT_CHUNK >= total:
                return
            page_no += 1

    return export.table_response(fmt, "cashiers", CASHIER_HEADER, rows())


@cashiers_bp.route("/cashiers", methods=["GET", "POST"])
def list_cashiers() -> ResponseReturnValue:
    if request.method == "GET":
        return _list()
    db = db_session()
    try:
        data = CashierIn().load({"code": request.form.get("code", "").strip(),
                                 "name": request.form.get("name", "").strip(),
                                 "pin": request.form.get("pin", ""),
                                 "stores": request.form.getlist("stores")})
        cashier = cashiers.create(db, data["code"], data["name"], data["pin"],
                                  data.get("stores") or [])
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return _list(422, field_messages(exc.messages), values=request.form)
    except ServiceError as exc:
        db.rollback()
        return _list(exc.status, field_messages(exc.errors), exc.message, request.form)
    return redirect(url_for(".cashier", cashier_code=cashier.code), 303)


def _page(code: str, status: int = 200, errors: dict[str, list[str]] | None = None,
          message: str | None = None) -> ResponseReturnValue:
    cashier = cashiers.get(db_session(), code)
    return render("cashiers/cashier.html", status=status, cashier=cashier,
                  stores_of={s.code for s in cashier.stores}, all_stores=_store_codes(),
                  errors=errors or {}, message=message)


@cashiers_bp.route("/cashiers/<cashier_code>", methods=["GET", "POST"])
def cashier(cashier_code: str) -> ResponseReturnValue:
    code = cashier_code
    if request.method == "GET":
        return _page(code, message="saved" if request.args.get("saved") else None)
    db = db_session()
    try:
        changes = CashierPatch().load({
            "name": request.form.get("name", "").strip(),
            "active": request.form.get("active") == "on",
            "stores": request.form.getlist("stores"),
            **({"pin": request.form["pin"]} if request.form.get("pin") else {})})
        cashiers.update(db, code, changes)
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return _page(code, 422, field_messages(exc.messages))
    except ServiceError as exc:
        db.rollback()
        return _page(code, exc.status, field_messages(exc.errors), exc.message)
    return redirect(url_for(".cashier", cashier_code=code, saved=1), 303)
