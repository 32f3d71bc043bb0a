"""Loyalty pages: profiles with their accrual options and markup bands, levels and gifts
(marketing writes), the points drift of ingested sales and the customers who overspent
(read-only reports), and a customer's points ledger with manual adjustments (customer
service writes). Forms go through the same services and rules as the REST API, so the
messages are the same (``accrual.threshold``, ``redemption.bands[1]``...)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from central.api.access import now, principal
from central.console.pages import page_blueprint, render
from central.services import (
    loyalty_profiles,
    loyalty_programme,
    points_ledger,
    points_reports,
)
from central.services.errors import Invalid, ServiceError
from central.transactions import db_session

loyalty_bp = page_blueprint("loyalty", __name__)
points_bp = page_blueprint("points", __name__)

ACCRUAL_NUMBERS = ("threshold", "step", "points_per_step", "bonus_threshold", "bonus_points",
                   "fractional_threshold", "max_discount_percent", "voucher_multiplier")
ACCRUAL_FLAGS = ("whole_points_only", "exclude_offers", "apply_grid", "reduce_by_voucher",
                 "points_from_products", "exclude_balance", "earn_on_invoices",
                 "earn_on_suspended")
BANDS = 3
PAGE_SIZE = 50


def _page_no() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def _decimal(form: MultiDict[str, str], name: str) -> Decimal | None:
    text = (form.get(name) or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise Invalid(f"{name}: not a number", {name: ["not a number"]}) from None


def _profile_form(form: MultiDict[str, str], current: dict[str, Any]) -> dict[str, Any]:
    accrual: dict[str, Any] = {}
    for name in ACCRUAL_NUMBERS:
        text = (form.get(f"accrual.{name}") or "").strip()
        if text:
            accrual[name] = text.replace(",", ".")
        elif name in ("bonus_threshold", "fractional_threshold", "max_discount_percent"):
            accrual[name] = None
    for name in ACCRUAL_FLAGS:
        accrual[name] = form.get(f"accrual.{name}") == "on"
    accrual["grid"] = current["accrual"].get("grid", [])
    accrual["earning_exclusions"] = [c for c in (form.get("accrual.earning_exclusions") or "")
                                     .replace(",", " ").split() if c]
    bands = []
    for i in range(BANDS):
        ratio = (form.get(f"band{i}.ratio") or "").strip()
        if ratio:
            bands.append({"ratio": ratio.replace(",", "."),
                          "above": (form.get(f"band{i}.above") or "").strip() or None,
                          "up_to": (form.get(f"band{i}.up_to") or "").strip() or None})
    levels_text = (form.get("redemption.discount_levels") or "0").strip()
    redemption = {**current["redemption"], "bands": bands,
                  "discount_levels": int(levels_text) if levels_text.isdigit() else levels_text,
                  "on_sale_price": form.get("redemption.on_sale_price") == "on",
                  "release": form.get("redemption.release") or "standard"}
    discount = _decimal(form, "discount_percent")
    return {"description": form.get("description", ""), "default": form.get("default") == "on",
            "card_prefix": (form.get("card_prefix") or "").strip(),
            "alternative_prefixes": (form.get("alternative_prefixes") or "").split(),
            "ean_prefix": (form.get("ean_prefix") or "").strip() or None,
            "discount_percent": discount if discount is not None else Decimal(0),
            "accrual": accrual, "redemption": redemption}


def _profiles(status: int = 200, errors: dict[str, list[str]] | None = None,
              message: str | None = None) -> ResponseReturnValue:
    rows = [loyalty_profiles.wire(p) for p in loyalty_profiles.list_profiles(db_session())]
    return render("loyalty/profiles.html", status=status, profiles=rows, errors=errors or {},
                  message=message, values=request.form)


@loyalty_bp.route("/loyalty/profiles", methods=["GET", "POST"])
def profiles() -> ResponseReturnValue:
    if request.method == "GET":
        return _profiles()
    db = db_session()
    code = (request.form.get("code") or "").strip()
    try:
        loyalty_profiles.create_profile(db, code, {
            "description": request.form.get("description", ""),
            "default": request.form.get("default") == "on",
            "card_prefix": (request.form.get("card_prefix") or "").strip(),
            "discount_percent": Decimal(0)}, now())
        db.commit()
    except ServiceError as exc:
        db.rollback()
        return _profiles(exc.status, exc.errors, exc.message)
    return redirect(url_for(".profile", code=code), 303)


def _profile_page(code: str, status: int = 200, errors: dict[str, list[str]] | None = None,
                  message: str | None = None) -> ResponseReturnValue:
    wire = loyalty_profiles.wire(loyalty_profiles.get_profile(db_session(), code))
    bands = list(wire["redemption"]["bands"]) + [{}] * (BANDS - len(wire["redemption"]["bands"]))
    return render("loyalty/profile.html", status=status, profile=wire, bands=bands,
                  numbers=ACCRUAL_NUMBERS, flags=ACCRUAL_FLAGS, errors=errors or {},
                  message=message)


@loyalty_bp.route("/loyalty/profiles/<code>", methods=["GET", "POST"])
def profile(code: str) -> ResponseReturnValue:
    if request.method == "GET":
        return _profile_page(code, message="saved" if request.args.get("saved") else None)
    db = db_session()
    try:
        current = loyalty_profiles.wire(loyalty_profiles.get_profile(db, code))
        loyalty_profiles.update_profile(db, code, _profile_form(request.form, current), now())
        db.commit()
    except ServiceError as exc:
        db.rollback()
        return _profile_page(code, exc.status, exc.errors, exc.message)
    return redirect(url_for(".profile", code=code, saved=1), 303)


def _levels(status: int = 200, errors: dict[str, list[str]] | None = None,
            message: str | None = None) -> ResponseReturnValue:
    db = db_session()
    return render("loyalty/levels.html", status=status,
                  levels=loyalty_programme.list_levels(db),
                  gifts=loyalty_programme.list_gifts(db), errors=errors or {}, message=message)


@loyalty_bp.get("/loyalty/levels")
def levels() -> ResponseReturnValue:
    return _levels()


@loyalty_bp.post("/loyalty/levels")
def save_level() -> ResponseReturnValue:
    db = db_session()
    try:
        points = _decimal(request.form, "points")
        if points is None:
            raise Invalid("points: required", {"points": ["required"]})
        loyalty_programme.put_level(db, (request.form.get("code") or "").strip(), points,
                                    request.form.get("name", ""))
        db.commit()
    except ServiceError as exc:
        db.rollback()
        return _levels(exc.status, exc.errors, exc.message)
    return redirect(url_for(".levels"), 303)


@loyalty_bp.post("/loyalty/levels/<code>/delete")
def remove_level(code: str) -> ResponseReturnValue:
    db = db_session()
    try:
        loyalty_programme.delete_level(db, code)
        db.commit()
    except ServiceError as exc:
        db.rollback()
        return _levels(exc.status, exc.errors, exc.message)
    return redirect(url_for(".levels"), 303)


@loyalty_bp.post("/loyalty/gifts")
def save_gift() -> ResponseReturnValue:
    db = db_session()
    try:
        loyalty_programme.put_gift(db, (request.form.get("sku") or "").strip(),
                                   request.form.get("level", ""),
                                   _decimal(request.form, "gift_points"))
        db.commit()
    except ServiceError as exc:
        db.rollback()
        return _levels(exc.status, exc.errors, exc.message)
    return redirect(url_for(".levels"), 303)


@loyalty_bp.post("/loyalty/gifts/<sku>/delete")
def remove_gift(sku: str) -> ResponseReturnValue:
    db = db_session()
    loyalty_programme.delete_gift(db, sku)
    db.commit()
    return redirect(url_for(".levels"), 303)


def _ledger(customer: str, status: int = 200, errors: dict[str, list[str]] | None = None,
            message: str | None = None) -> ResponseReturnValue:
    db = db_session()
    customer = points_ledger.check_customer(customer)
    return render("loyalty/ledger.html", status=status, customer=customer,
                  entries=points_ledger.rows(db, customer),
                  balance=points_ledger.balance(db, customer), errors=errors or {},
                  message=message)


@points_bp.route("/customers/<customer>/points", methods=["GET", "POST"])
def ledger(customer: str) -> ResponseReturnValue:
    if request.method == "GET":
        return _ledger(customer)
    db = db_session()
    try:
        points = _decimal(request.form, "points")
        points_ledger.adjust(db, customer, points if points is not None else Decimal(0),
                             request.form.get("reason", ""), principal().username, now())
        db.commit()
    except ServiceError as exc:
        db.rollback()
        return _ledger(customer, exc.status, exc.errors, exc.message)
    return redirect(url_for(".ledger", customer=customer), 303)


@loyalty_bp.get("/loyalty/drift")
def drift() -> ResponseReturnValue:
    """Sales whose points central computed otherwise than the store, or could not record."""
    kind = request.args.get("kind")
    kind = kind if kind in points_reports.DRIFT_KINDS else None
    store = (request.args.get("store") or "").strip() or None
    page_no = _page_no()
    rows, total = points_reports.list_drift(db_session(), page_no, PAGE_SIZE, store=store,
                                            kind=kind)
    return render("loyalty/drift.html", rows=rows, total=total, page=page_no,
                  pages=max(1, -(-total // PAGE_SIZE)), kind=kind or "", store=store or "",
                  kinds=points_reports.DRIFT_KINDS)


@loyalty_bp.get("/loyalty/overspends")
def overspends() -> ResponseReturnValue:
    """Customers whose balance went below zero, with the sales and stores that spent."""
    page_no = _page_no()
    rows, total = points_reports.overspends(db_session(), page_no, PAGE_SIZE)
    return render("loyalty/overspends.html", rows=rows, total=total, page=page_no,
                  pages=max(1, -(-total // PAGE_SIZE)))
