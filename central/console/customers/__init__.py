"""The customer registry in the console: a list with search, a customer's page (record,
observation, matching alerts, cards, history), likely duplicates with merge, and alerts.

Writes go through ``central.services.customers`` like the REST API's, so a form gets the
same messages naming each field; the signed-in user is the author of edits and merges.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from central.console.pages import field_messages, page_blueprint, render
from central.services import (
    customer_fields,
    customer_fold,
    customer_merges,
    customer_queries,
    customers,
)
from central.services.errors import ServiceError
from central.transactions import db_session
from rules.conditions import ConditionError
from rules.customers.aggregates import Aggregates
from rules.customers.alerts import customer_facts, make_alert, matching_alerts, observation

customers_bp = page_blueprint("customers", __name__)

PAGE_SIZE = 50
FORM_FIELDS = ("first_name", "last_name", "email", "mobile", "postcode", "city",
               "birth_date", "observation")


def _author() -> str:
    return str(g.principal.username)


def _zone() -> str:
    return str(current_app.extensions["tessera.settings"].default_time_zone)


def _page_no() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def _list(status: int = 200, errors: dict[str, list[str]] | None = None,
          message: str | None = None, values: Any = None) -> ResponseReturnValue:
    db = db_session()
    q = request.args.get("q", "").strip()
    page_no = _page_no()
    rows, total = customers.list_customers(db, page_no, PAGE_SIZE, q=q or None)
    pages = max(1, -(-total // PAGE_SIZE))
    return render("customers/list.html", "customers/rows.html", status=status,
                  customers=rows, total=total, q=q, page=page_no, pages=pages,
                  questions=customer_fields.list_fields(db), fields=FORM_FIELDS,
                  errors=errors or {}, message=message, values=values or {})


@customers_bp.route("/customers", methods=["GET", "POST"])
def list_customers() -> ResponseReturnValue:
    if request.method == "GET":
        return _list()
    db = db_session()
    data: dict[str, Any] = {k: v for k, v in request.form.items()
                            if k != "csrf_token" and v.strip()}
    card = data.pop("card", None)
    if card:
        data["cards"] = [{"number": card, "kind": "loyalty"}]
    try:
        made = customers.create(db, data, region=customers.country_of_zone(_zone()),
                                author=_author())
        db.commit()
    except ServiceError as exc:
        db.rollback()
        return _list(exc.status, field_messages(exc.errors), exc.message, request.form)
    return redirect(url_for(".customer", customer_id=made.id), 303)


def _alerts_for(db: Any, customer: Any, state: Any) -> list[Any]:
    zone = ZoneInfo(_zone())
    today = dt.datetime.now(zone).date()
    catalogue = customer_queries.catalogue(db)
    alerts = []
    for row in customer_queries.list_alerts(db):
        if row.active:
            try:
                alerts.append(make_alert(row.code, row.position, row.condition, row.message,
                                         catalogue))
            except (ConditionError, ValueError):
                continue  # a question it names was removed since: it matches nobody
    facts = customer_facts(state.fields(), state.active_cards(),
                           Aggregates(customer.total_spend, customer.visits, customer.returns,
                                      customer.first_purchase, customer.last_purchase),
                           today, zone)
    return matching_alerts(alerts, facts, today)


def _customer_page(customer_id: str, status: int = 200,
                   errors: dict[str, list[str]] | None = None,
                   message: str | None = None) -> ResponseReturnValue:
    db = db_session()
    customer = customers.get(db, customer_id)
    state = customer_fold.state_of(db, customer)
    record = customers.wire(customer)
    return render("customers/customer.html", status=status, customer=customer, record=record,
                  note=observation(state.fields()), alerts=_alerts_for(db, customer, state),
                  cards=customers.cards_of(db, customer.id),
                  history=customer_merges.export(db, customer.id)["history"],
                  errors=errors or {}, message=message)


@customers_bp.get("/customers/<customer_id>")
def customer(customer_id: str) -> ResponseReturnValue:
    db = db_session()
    found = customers.get(db, customer_id)
    if found.id != customer_id:  # an old id: the survivor's page
        return redirect(url_for(".customer", customer_id=found.id), 303)
    return _customer_page(customer_id)


@customers_bp.post("/customers/<customer_id>/cards")
def add_card(customer_id: str) -> ResponseReturnValue:
    db = db_session()
    try:
        customers.add_card(db, customer_id, request.form.get("number", ""),
                           request.form.get("kind", "loyalty"), author=_author(),
                           replaces=request.form.get("replaces") or None)
        db.commit()
    except ServiceError as exc:
        db.rollback()
        return _customer_page(customer_id, exc.status, field_messages(exc.errors), exc.message)
    return redirect(url_for(".customer", customer_id=customer_id), 303)


@customers_bp.get("/customers/duplicates")
def duplicates() -> ResponseReturnValue:
    db = db_session()
    matches = customer_merges.likely_duplicates(db)
    ids = {i for m in matches for i in (m.a, m.b)}
    named = {c.id: c for c in customers.by_ids(db, ids)}
    return render("customers/duplicates.html", matches=matches, named=named)


@customers_bp.post("/customers/merge")
def merge() -> ResponseReturnValue:
    db = db_session()
    try:
        survivor = customer_merges.merge(db, request.form.get("a", ""), request.form.get("b", ""),
                                   by=_author())
        db.commit()
    except ServiceError:
        db.rollback()
        raise
    return redirect(url_for(".customer", customer_id=survivor.id), 303)


def _alerts(status: int = 200, errors: dict[str, list[str]] | None = None,
            message: str | None = None, values: Any = None) -> ResponseReturnValue:
    db = db_session()
    rows = customer_queries.list_alerts(db)
    counts: dict[str, int | None] = {}
    for row in rows:
        try:
            counts[row.code] = customer_queries.preview(db, row.condition, zone=_zone())
        except ServiceError:
            counts[row.code] = None
    return render("customers/alerts.html", status=status, alerts=rows, counts=counts,
                  errors=errors or {}, message=message, values=values or {})


@customers_bp.route("/customer-alerts", methods=["GET", "POST"])
def alerts() -> ResponseReturnValue:
    if request.method == "GET":
        return _alerts()
    db = db_session()
    form = request.form
    try:
        position = int(form.get("position", "0") or 0)
    except ValueError:
        return _alerts(422, {"position": ["a whole number"]}, values=form)
    try:
        customer_queries.save_alert(db, {"code": form.get("code", "").strip(),
                                         "position": position,
                                         "condition": form.get("condition", ""),
                                         "message": form.get("message", "")})
        db.commit()
    except ServiceError as exc:
        db.rollback()
        return _alerts(exc.status, field_messages(exc.errors), exc.message, form)
    return redirect(url_for(".alerts"), 303)
