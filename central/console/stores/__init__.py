"""Stores and store groups: create, edit, move between groups; a store's one-time enrolment
code and the withdrawal of its broker login. Forms go through the REST API's schemas."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError

from central.api.access import now
from central.api.schemas import (
    StoreGroupSchema,
    StoreGroupUpdateSchema,
    StoreSchema,
    StoreUpdateSchema,
)
from central.console import export
from central.console.pages import field_messages as _flat
from central.console.pages import page_blueprint, render
from central.services import broker_access, enrolment, stores
from central.services.errors import ServiceError
from central.transactions import db_session

log = logging.getLogger(__name__)

stores_bp = page_blueprint("stores", __name__)

MAX_ROWS = 1000
CODE_TTL_HOURS = 24


def _groups() -> list[Any]:
    return stores.list_groups(db_session(), 1, MAX_ROWS)[0]


def _has_time_zone() -> bool:
    """Whether stores have a time zone yet (another change adds it to the schema)."""
    return "time_zone" in StoreUpdateSchema().fields


def _store_form(schema: Schema, form: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in fields:
        if name in schema.fields:
            value = form.get(name, "").strip()
            if name == "time_zone" and not value:
                continue  # empty: a new store gets the default zone, an edited one keeps its
            data[name] = value or None if name == "group" else value
    loaded: dict[str, Any] = schema.load(data)
    if loaded.get("time_zone", "") is None:  # the schema's default: no zone chosen
        del loaded["time_zone"]
    return loaded


@stores_bp.get("/stores")
def list_stores() -> ResponseReturnValue:
    group = request.args.get("group") or None
    groups = _groups()
    if group not in {g.code for g in groups}:
        group = None
    rows, total = stores.list_stores(db_session(), 1, MAX_ROWS, group=group)
    return render("stores/list.html", stores=rows, total=total, groups=groups, group=group,
                  **export.export_links(".export_stores", group=group))


STORE_HEADER = ("code", "name", "group", "time_zone", "active", "created_at")


@stores_bp.get("/stores/export.<fmt>")
def export_stores(fmt: str) -> ResponseReturnValue:
    """The stores of the list (its group filter) as CSV or Excel."""
    group = request.args.get("group") or None
    if group not in {g.code for g in _groups()}:
        group = None
    rows, _total = stores.list_stores(db_session(), 1, MAX_ROWS, group=group)
    return export.table_response(fmt, "stores", STORE_HEADER, (
        (s.code, s.name, s.group.code if s.group else None, getattr(s, "time_zone", None),
         s.active, s.created_at) for s in rows))


def _edit_page(store: Any, values: dict[str, Any], errors: dict[str, list[str]] | None = None,
               message: str | None = None, status: int = 200, **extra: Any) -> ResponseReturnValue:
    return render("stores/form.html", status=status, store=store, values=values,
                  errors=errors or {}, message=message, groups=_groups(),
                  time_zone=_has_time_zone(), **extra)


@stores_bp.route("/stores/new", methods=["GET", "POST"])
def new_store() -> ResponseReturnValue:
    if request.method == "GET":
        return _edit_page(None, {})
    db = db_session()
    try:
        data = _store_form(StoreSchema(), request.form, ("code", "name", "group", "time_zone"))
        group = data.pop("group", None)
        store = stores.create_store(db, data.pop("code"), data.pop("name"), group)
        if data:
            stores.update_store(db, store.code, data)
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return _edit_page(None, request.form.to_dict(), _flat(exc.messages), status=422)
    except ServiceError as exc:
        db.rollback()
        return _edit_page(None, request.form.to_dict(), _flat(exc.errors), exc.message,
                          status=exc.status)
    return redirect(url_for(".edit_store", code=store.code, saved=1), 303)


@stores_bp.route("/stores/<code>/edit", methods=["GET", "POST"])
def edit_store(code: str) -> ResponseReturnValue:
    db = db_session()
    store = stores.get_store(db, code)
    if request.method == "GET":
        values = {"code": store.code, "name": store.name,
                  "group": store.group.code if store.group else "",
                  "time_zone": getattr(store, "time_zone", None) or "",
                  "active": store.active}
        return _edit_page(store, values, message="saved" if request.args.get("saved") else None)
    try:
        changes = _store_form(StoreUpdateSchema(), request.form, ("name", "group", "time_zone"))
        changes["active"] = request.form.get("active") == "on"
        stores.update_store(db, code, changes)
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return _edit_page(store, request.form.to_dict(), _flat(exc.messages), status=422)
    except ServiceError as exc:
        db.rollback()
        return _edit_page(store, request.form.to_dict(), _flat(exc.errors), exc.message,
                          status=exc.status)
    return redirect(url_for(".edit_store", code=code, saved=1), 303)


@stores_bp.post("/stores/<code>/enrolment-code")
def enrolment_code(code: str) -> ResponseReturnValue:
    """A one-time code, shown on this answer only (central keeps only its hash)."""
    db = db_session()
    issued = enrolment.issue_code(db, code, now(), dt.timedelta(hours=CODE_TTL_HOURS))
    db.commit()
    settings = current_app.extensions["tessera.settings"]
    central_url = settings.public_url or request.host_url.rstrip("/")
    command = f"tessera agent enroll --central {central_url} --code {issued.code}"
    return render("stores/enrolment_code.html", issued=issued, command=command,
                  store=stores.get_store(db, code))


@stores_bp.post("/stores/<code>/broker-revoke")
def broker_revoke(code: str) -> ResponseReturnValue:
    """Withdraw the store's broker login; rewrite the broker's files and cut it off now."""
    db = db_session()
    store = stores.get_store(db, code)
    revoked = broker_access.revoke(db, store.code, now())
    db.commit()
    settings = current_app.extensions["tessera.settings"]
    notes = []
    if settings.broker_auth_dir is not None:
        try:
            broker_access.sync(db, settings, force=True)
            broker_access.forget_state(settings.broker, store.code)
        except broker_access.BrokerAccessError as exc:
            log.exception("broker files or retained state not updated after revoking %s",
                          store.code)
            notes.append(str(exc))
    return render("stores/revoked.html", store=store, revoked=revoked, notes=notes,
                  files=settings.broker_auth_dir is not None)


# -- groups ---------------------------------------------------------------------------------

@stores_bp.route("/groups", methods=["GET", "POST"])
def groups() -> ResponseReturnValue:
    errors: dict[str, list[str]] = {}
    message = None
    status = 200
    if request.method == "POST":
        db = db_session()
        try:
            data = StoreGroupSchema().load({"code": request.form.get("code", "").strip(),
                                            "name": request.form.get("name", "").strip()})
            stores.create_group(db, data["code"], data["name"])
            db.commit()
            return redirect(url_for(".groups"), 303)
        except ValidationError as exc:
            db.rollback()
            errors, status = _flat(exc.messages), 422
        except ServiceError as exc:
            db.rollback()
            errors, message, status = _flat(exc.errors), exc.message, exc.status
    return render("stores/groups.html", status=status, groups=_groups(), errors=errors,
                  message=message, values=request.form)


@stores_bp.post("/groups/<code>")
def rename_group(code: str) -> ResponseReturnValue:
    db = db_session()
    try:
        changes = StoreGroupUpdateSchema().load({"name": request.form.get("name", "").strip()})
        stores.update_group(db, code, changes)
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return render("stores/groups.html", status=422, groups=_groups(),
                      errors=_flat(exc.messages), message=None, values={})
    return redirect(url_for(".groups"), 303)
