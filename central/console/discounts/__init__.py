"""Discount policies (SPEC C3-C6): sales rules, promotions and exclusions; partner
programmes with their card lists (a member list is imported by the console's imports
pages, ``central.console.imports``); VIP cards.

The forms are turned into the wire fields the REST API takes and saved by the same
services (``central.services.policies`` and ``partners``), which check everything: a
refused form shows their messages beside its fields and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from central.api.access import now
from central.console import export
from central.console.pages import field_messages, page_blueprint, render
from central.services import partners, policies, stores
from central.services.errors import ServiceError
from central.transactions import db_session

discounts_bp = page_blueprint("discounts", __name__)

PAGE_SIZE = 100
MAX_CHOICES = 1000


def _codes(text: str | None) -> list[str]:
    """Codes typed in one field, separated by spaces, commas or new lines."""
    return [c for c in (text or "").replace(",", " ").split() if c]


def _moment(text: str | None) -> str | None:
    """A ``datetime-local`` value (taken as UTC) as the ISO text the services read."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text  # the service says what is wrong with it
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).isoformat()


def _local(iso_text: str | None) -> str:
    """An ISO moment back into a ``datetime-local`` value (UTC)."""
    if not iso_text:
        return ""
    moment = dt.datetime.fromisoformat(iso_text).astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M")


def _places() -> dict[str, Any]:
    db = db_session()
    return {"all_stores": stores.list_stores(db, 1, MAX_CHOICES)[0],
            "all_groups": stores.list_groups(db, 1, MAX_CHOICES)[0]}


def _failed(exc: ServiceError) -> dict[str, Any]:
    db_session().rollback()
    return {"status": exc.status, "errors": field_messages(exc.errors), "error": exc.message}


# -- sales rules, promotions, exclusions -----------------------------------------------------

POLICY_FIELDS = ("code", "name", "kind", "percent", "promotion", "buy", "get", "price",
                 "target_kind", "target_codes", "stores", "groups", "start", "end")


def _policy_data(form: MultiDict[str, str], kind: str) -> dict[str, Any]:
    """The wire fields of the form, only those the kind (and promotion type) takes."""
    value = {name: form.get(name, "").strip() for name in POLICY_FIELDS}
    data: dict[str, Any] = {
        "name": value["name"], "stores": _codes(value["stores"]),
        "groups": _codes(value["groups"]),
        "period": {"start": _moment(value["start"]), "end": _moment(value["end"])},
        "target": {"kind": value["target_kind"] or "all",
                   "codes": _codes(value["target_codes"])}}
    if kind == "sales_rule":
        data["percent"] = value["percent"].replace(",", ".") or None
    elif kind == "promotion":
        data["promotion"] = value["promotion"] or None
        if value["promotion"] == "fixed_price":
            data["price"] = value["price"].replace(",", ".") or None
        else:
            data["percent"] = value["percent"].replace(",", ".") or None
            for name in ("buy", "get"):
                try:
                    data[name] = int(value[name]) if value[name] else None
                except ValueError:
                    data[name] = value[name]  # the service refuses it with its reason
    return data


def _policy_values(policy: Any) -> dict[str, str]:
    wire = policies.wire(policy)
    target = wire.get("target") or {}
    period = wire.get("period") or {}
    return {"code": policy.code, "name": wire.get("name", ""), "kind": policy.kind,
            "percent": wire.get("percent") or "", "promotion": wire.get("promotion") or "",
            "buy": str(wire.get("buy") or ""), "get": str(wire.get("get") or ""),
            "price": wire.get("price") or "", "target_kind": target.get("kind", "all"),
            "target_codes": " ".join(target.get("codes") or []),
            "stores": " ".join(wire.get("stores") or []),
            "groups": " ".join(wire.get("groups") or []),
            "start": _local(period.get("start")), "end": _local(period.get("end"))}


def _policies_page(status: int = 200, **context: Any) -> ResponseReturnValue:
    kind = request.args.get("kind") if request.args.get("kind") in policies.KINDS else None
    active = {"true": True, "false": False}.get(request.args.get("active", ""))
    rows, total = policies.list_policies(db_session(), 1, MAX_CHOICES, kind=kind,
                                         active=active)
    context.setdefault("values", {"kind": kind or "sales_rule", "target_kind": "all"})
    context.setdefault("errors", {})
    return render("discounts/policies.html", status=status, policies=rows, total=total,
                  kind=kind, active=request.args.get("active", ""), wire=policies.wire,
                  kinds=policies.KINDS, targets=policies.TARGET_KINDS, **_places(),
                  **export.export_links(".export_policies", kind=kind,
                                        active=request.args.get("active")), **context)


@discounts_bp.route("/policies", methods=["GET", "POST"])
def policy_list() -> ResponseReturnValue:
    if request.method == "GET":
        return _policies_page()
    kind = request.form.get("kind", "")
    db = db_session()
    try:
        data = _policy_data(request.form, kind)
        policy = policies.create(db, kind, {"code": request.form.get("code", "").strip(),
                                            **data})
        db.commit()
    except ServiceError as exc:
        return _policies_page(**_failed(exc), values=request.form)
    return redirect(url_for(".policy", code=policy.code), 303)


def _policy_page(code: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    policy = policies.get(db_session(), code)
    context.setdefault("values", _policy_values(policy))
    context.setdefault("errors", {})
    return render("discounts/policy.html", status=status, policy=policy,
                  wire=policies.wire(policy), targets=policies.TARGET_KINDS, **_places(),
                  **context)


@discounts_bp.route("/policies/<code>", methods=["GET", "POST"])
def policy(code: str) -> ResponseReturnValue:
    if request.method == "GET":
        return _policy_page(code)
    db = db_session()
    current = policies.get(db, code)
    try:
        policies.update(db, code, _policy_data(request.form, current.kind))
        db.commit()
    except ServiceError as exc:
        return _policy_page(code, **_failed(exc), values=request.form)
    return _policy_page(code, message=_("Saved: the stores receive it within seconds."))


@discounts_bp.post("/policies/<code>/deactivate")
def deactivate_policy(code: str) -> ResponseReturnValue:
    db = db_session()
    policies.deactivate(db, code)
    db.commit()
    return redirect(url_for(".policy", code=code), 303)


POLICY_HEADER = ("code", "kind", "name", "active", "version", "percent", "promotion", "buy",
                 "get", "price", "target", "codes", "stores", "groups", "start", "end")


@discounts_bp.get("/policies/export.<fmt>")
def export_policies(fmt: str) -> ResponseReturnValue:
    kind = request.args.get("kind") if request.args.get("kind") in policies.KINDS else None
    active = {"true": True, "false": False}.get(request.args.get("active", ""))
    rows, _total = policies.list_policies(db_session(), 1, 100_000, kind=kind, active=active)

    def lines() -> Iterator[tuple[Any, ...]]:
        for p in rows:
            w = policies.wire(p)
            target, period = w.get("target") or {}, w.get("period") or {}
            yield (p.code, p.kind, w.get("name"), p.active, p.version, w.get("percent"),
                   w.get("promotion"), w.get("buy"), w.get("get"), w.get("price"),
                   target.get("kind"), " ".join(target.get("codes") or []),
                   " ".join(w.get("stores") or []), " ".join(w.get("groups") or []),
                   period.get("start"), period.get("end"))

    return export.table_response(fmt, "policies", POLICY_HEADER, lines())


# -- partner programmes and their cards --------------------------------------------------------

PROGRAMME_FIELDS = ("code", "name", "percent", "stores", "groups", "valid_from", "valid_until")


def _programme_data(form: MultiDict[str, str]) -> dict[str, Any]:
    value = {name: form.get(name, "").strip() for name in PROGRAMME_FIELDS}
    return {"name": value["name"], "percent": value["percent"].replace(",", ".") or None,
            "stores": _codes(value["stores"]), "groups": _codes(value["groups"]),
            "valid_from": _moment(value["valid_from"]),
            "valid_until": _moment(value["valid_until"]),
            "active": form.get("active", "on") == "on"}


def _programmes_page(status: int = 200, **context: Any) -> ResponseReturnValue:
    rows, total = partners.list_programmes(db_session(), 1, MAX_CHOICES)
    context.setdefault("values", {})
    context.setdefault("errors", {})
    return render("discounts/programmes.html", status=status, programmes=rows, total=total,
                  wire=partners.programme_wire, **_places(), **context)


@discounts_bp.route("/partners", methods=["GET", "POST"])
def programmes() -> ResponseReturnValue:
    if request.method == "GET":
        return _programmes_page()
    db = db_session()
    try:
        programme = partners.create_programme(
            db, {"code": request.form.get("code", "").strip(), **_programme_data(request.form)})
        db.commit()
    except ServiceError as exc:
        return _programmes_page(**_failed(exc), values=request.form)
    return redirect(url_for(".programme", code=programme.code), 303)


def _programme_page(code: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    db = db_session()
    programme = partners.get_programme(db, code)
    number = request.args.get("number", "").strip()[:32] or None
    try:
        page_no = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page_no = 1
    cards, total = partners.list_cards(db, code, page_no, PAGE_SIZE, number=number)
    wire = partners.programme_wire(programme)
    context.setdefault("values", {
        "name": wire["name"], "percent": wire["percent"],
        "stores": " ".join(wire.get("stores") or []),
        "groups": " ".join(wire.get("groups") or []),
        "valid_from": _local(wire.get("valid_from")),
        "valid_until": _local(wire.get("valid_until")), "active": programme.active})
    context.setdefault("errors", {})
    return render("discounts/programme.html", status=status, programme=programme, wire=wire,
                  cards=cards, total=total, page=page_no, number=number,
                  pages=max(1, -(-total // PAGE_SIZE)), **_places(), **context)


@discounts_bp.route("/partners/<code>", methods=["GET", "POST"])
def programme(code: str) -> ResponseReturnValue:
    if request.method == "GET":
        return _programme_page(code)
    db = db_session()
    try:
        partners.update_programme(db, code, _programme_data(request.form))
        db.commit()
    except ServiceError as exc:
        return _programme_page(code, **_failed(exc), values=request.form)
    return _programme_page(code, message=_("Saved: the stores receive it within seconds."))


@discounts_bp.post("/partners/<code>/cards/remove")
def remove_card(code: str) -> ResponseReturnValue:
    db = db_session()
    partners.remove_card(db, code, request.form.get("first", ""),
                         request.form.get("last") or None)
    db.commit()
    return redirect(url_for(".programme", code=code), 303)


@discounts_bp.post("/partners/<code>/deactivate")
def deactivate_programme(code: str) -> ResponseReturnValue:
    db = db_session()
    partners.deactivate_programme(db, code)
    db.commit()
    return redirect(url_for(".programme", code=code), 303)


# -- VIP cards ----------------------------------------------------------------------------------

def _vips_page(status: int = 200, **context: Any) -> ResponseReturnValue:
    customer = request.args.get("customer", "").strip()[:100] or None
    rows, total = partners.list_vips(db_session(), 1, MAX_CHOICES, customer=customer)
    context.setdefault("values", {"code": "#VIP#"})
    context.setdefault("errors", {})
    return render("discounts/vips.html", status=status, vips=rows, total=total,
                  customer=customer, now=now(),
                  **export.export_links(".export_vips", customer=customer), **context)


@discounts_bp.route("/vip", methods=["GET", "POST"])
def vips() -> ResponseReturnValue:
    if request.method == "GET":
        return _vips_page()
    form = request.form
    db = db_session()
    try:
        partners.create_vip(db, {
            "code": form.get("code", "").strip(), "customer": form.get("customer", "").strip(),
            "percent": form.get("percent", "").strip().replace(",", ".") or None,
            "valid_until": _moment(form.get("valid_until")),
            "notify": form.get("notify", "").strip() or None}, now())
        db.commit()
    except ServiceError as exc:
        return _vips_page(**_failed(exc), values=form)
    return redirect(url_for(".vips"), 303)


@discounts_bp.post("/vip/<path:code>/deactivate")
def deactivate_vip(code: str) -> ResponseReturnValue:
    db = db_session()
    partners.deactivate_vip(db, code)
    db.commit()
    return redirect(url_for(".vips"), 303)


VIP_HEADER = ("code", "customer", "percent", "valid_until", "active", "version")


@discounts_bp.get("/vip/export.<fmt>")
def export_vips(fmt: str) -> ResponseReturnValue:
    customer = request.args.get("customer", "").strip()[:100] or None
    rows, _total = partners.list_vips(db_session(), 1, 1_000_000, customer=customer)
    return export.table_response(fmt, "vip-cards", VIP_HEADER, (
        (v.code, v.customer, v.percent, v.valid_until, v.active, v.version) for v in rows))
