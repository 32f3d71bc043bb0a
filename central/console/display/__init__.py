"""The customer displays' promotional content (SPEC S6): each store group's and store's own
items, what a store's displays show (its own, else its group's, else the local folder of its
agent), a form per scope to set the items, and "back to the local folder" (delete).

Rows are added and removed by plain form posts ("Add a row" re-renders the form with one
more row, nothing saved; a ticked "Remove" drops its row on save): the CSP allows no inline
script and htmx would add nothing here. Items are checked by ``display.check_items``, the
REST API's check; a refused item is shown beside its field and nothing is saved.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from central.console.pages import page_blueprint, render
from central.services import display, stores
from central.services.errors import ServiceError
from central.transactions import db_session

display_bp = page_blueprint("display", __name__)

MAX_ROWS = display.MAX_ITEMS + 1  # every item and one empty row to add one


def _reason(field: str) -> str:
    """The check's reason in the user's language."""
    return {"kind": _("Choose image, video or web page."),
            "src": _("An address starting with http:// or https://."),
            "seconds": _("A whole number of seconds, 1 to 3600.")}.get(field, field)


def _overview() -> ResponseReturnValue:
    db = db_session()
    contents = display.every_content(db)
    group_rows, _total = stores.list_groups(db, 1, 10000)
    store_rows, _total = stores.list_stores(db, 1, 10000)
    return render("display/list.html",
                  groups=[(g, contents.get(("group", g.code))) for g in group_rows],
                  stores=[(s, contents.get(("store", s.code)), display.effective_in(contents, s))
                          for s in store_rows])


@display_bp.get("/display")
def overview() -> ResponseReturnValue:
    return _overview()


def _blank() -> dict[str, Any]:
    return {"kind": "image", "src": "", "seconds": "", "field": None, "error": None}


def _rows_of(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"kind": i["kind"], "src": i["src"],
             "seconds": "" if i.get("seconds") is None else str(i["seconds"]),
             "field": None, "error": None} for i in items] + [_blank()]


def _submitted(form: MultiDict[str, str]) -> list[dict[str, Any]]:
    """The form's rows as typed, without those ticked for removal and the empty ones."""
    try:
        count = min(max(0, int(form.get("rows", "0"))), MAX_ROWS)
    except ValueError:
        count = 0
    rows = []
    for i in range(count):
        row = {"kind": form.get(f"kind-{i}", ""), "src": form.get(f"src-{i}", "").strip(),
               "seconds": form.get(f"seconds-{i}", "").strip(), "field": None, "error": None}
        if form.get(f"remove-{i}") != "on" and (row["src"] or row["seconds"]):
            rows.append(row)
    return rows


def _items(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as the service's items; a row whose seconds are no number gets its error."""
    items = []
    for row in rows:
        seconds: int | None = None
        if row["seconds"] and row["kind"] != "video":
            if not row["seconds"].isdigit():
                row["field"], row["error"] = "seconds", _reason("seconds")
                continue
            seconds = int(row["seconds"])
        items.append({"kind": row["kind"], "src": row["src"], "seconds": seconds})
    return items


def _edit_page(scope: str, code: str, rows: list[dict[str, Any]] | None = None,
               status: int = 200, message: str | None = None) -> ResponseReturnValue:
    db = db_session()
    contents = display.every_content(db)
    own = contents.get((scope, code))
    effective = None
    if scope == "store":
        target = stores.get_store(db, code)
        effective = display.effective_in(contents, target)
        fallback = "group" if target.group is not None and \
            ("group", target.group.code) in contents else "folder"
    else:
        target = stores.get_group(db, code)
        fallback = "folder"
    return render("display/edit.html", status=status, scope=scope, code=code, target=target,
                  own=own, effective=effective, fallback=fallback,
                  rows=_rows_of(own or []) if rows is None else rows, message=message,
                  kinds=[("image", _("Image")), ("video", _("Video")),
                         ("url", _("Web page"))])


def _edit(scope: str, code: str) -> ResponseReturnValue:
    if request.method == "GET":
        done = request.args.get("done")
        return _edit_page(scope, code, message=done if done in ("saved", "removed") else None)
    db = db_session()
    action = request.form.get("action", "save")
    if action == "delete":
        try:
            display.delete(db, scope, code)
            db.commit()
        except ServiceError as exc:
            db.rollback()
            return _edit_page(scope, code, status=exc.status, message=exc.message)
        return redirect(url_for(f".{scope}", code=code, done="removed"), 303)
    rows = _submitted(request.form)
    if action == "add":
        return _edit_page(scope, code, rows + [_blank()])
    items = _items(rows)
    if any(row["error"] for row in rows):
        return _edit_page(scope, code, rows + [_blank()], 422, _("Nothing was saved."))
    try:
        display.put(db, scope, code, items, dt.datetime.now(dt.UTC))
        db.commit()
    except display.InvalidItem as exc:
        db.rollback()
        row = rows[exc.number - 1]
        row["field"], row["error"] = exc.field, _reason(exc.field)
        return _edit_page(scope, code, rows + [_blank()], exc.status, _("Nothing was saved."))
    except ServiceError as exc:
        db.rollback()
        return _edit_page(scope, code, rows + [_blank()], exc.status, exc.message)
    return redirect(url_for(f".{scope}", code=code, done="saved"), 303)


@display_bp.route("/display/stores/<code>", methods=["GET", "POST"])
def store(code: str) -> ResponseReturnValue:
    return _edit("store", code)


@display_bp.route("/display/groups/<code>", methods=["GET", "POST"])
def group(code: str) -> ResponseReturnValue:
    return _edit("group", code)
