"""Instructions to tills (SPEC S4): write, copy to other stores, withdraw, who has seen them;
and each store's message to the seller."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from central.console.pages import field_messages, page_blueprint, render
from central.models import SellerMessage
from central.services import cashiers, instructions, stores
from central.services.errors import Invalid, ServiceError
from central.transactions import db_session

instructions_bp = page_blueprint("instructions", __name__)

PAGE_SIZE = 50
# The page's own notices, named by the link it redirects to after an action (?done=): any
# other text there is ignored, so a crafted link cannot make the page say something else.
NOTICES = ("copied", "end")


def _when(name: str) -> dt.datetime | None:
    """A ``datetime-local`` field, read as UTC (the page says so)."""
    text = request.form.get(name, "").strip()
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    except ValueError:
        raise Invalid(f"{name}: not a date and time", {name: ["not a date and time"]}) from None


def _choices() -> dict[str, Any]:
    db = db_session()
    store_rows, _ = stores.list_stores(db, 1, 10000)
    group_rows, _ = stores.list_groups(db, 1, 10000)
    cashier_rows, _ = cashiers.list_cashiers(db, 1, 10000)
    messages = {m.store_id: m.text for m in db.query(SellerMessage)}
    return {"all_stores": [s.code for s in store_rows],
            "all_groups": [g.code for g in group_rows],
            "all_cashiers": [c.code for c in cashier_rows],
            "seller_messages": [(s.code, messages.get(s.id, "")) for s in store_rows]}


def _list(status: int = 200, errors: dict[str, list[str]] | None = None,
          message: str | None = None, values: Any = None) -> ResponseReturnValue:
    try:
        page_no = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page_no = 1
    store = request.args.get("store") or None
    rows, total = instructions.list_instructions(db_session(), page_no, PAGE_SIZE, store)
    return render("instructions/list.html", status=status, instructions=rows, total=total,
                  page=page_no, pages=max(1, -(-total // PAGE_SIZE)), store=store,
                  errors=errors or {}, message=message, values=values or {}, **_choices())


@instructions_bp.route("/instructions", methods=["GET", "POST"])
def list_instructions() -> ResponseReturnValue:
    if request.method == "GET":
        return _list(message="saved" if request.args.get("saved") else None)
    db = db_session()
    try:
        instruction = instructions.create(
            db, request.form.get("text", ""), stores=request.form.getlist("stores"),
            groups=request.form.getlist("groups"),
            cashier=request.form.get("cashier") or None,
            scroll=request.form.get("scroll") == "on", valid_from=_when("valid_from"),
            valid_until=_when("valid_until"))
        db.commit()
    except ServiceError as exc:
        db.rollback()
        return _list(exc.status, field_messages(exc.errors), exc.message, request.form)
    return redirect(url_for(".instruction", instruction_id=instruction.id), 303)


@instructions_bp.route("/instructions/seller-message", methods=["POST"])
def seller_message() -> ResponseReturnValue:
    db = db_session()
    try:
        instructions.set_seller_message(db, request.form.get("store", ""),
                                        request.form.get("text"), dt.datetime.now(dt.UTC))
        db.commit()
    except ServiceError as exc:
        db.rollback()
        return _list(exc.status, field_messages(exc.errors), exc.message)
    return redirect(url_for(".list_instructions", saved=1), 303)


def _page(instruction_id: int, status: int = 200, errors: dict[str, list[str]] | None = None,
          message: str | None = None) -> ResponseReturnValue:
    db = db_session()
    instruction = instructions.get(db, instruction_id)
    return render("instructions/instruction.html", status=status, instruction=instruction,
                  seen=instructions.seen_by(db, instruction_id), errors=errors or {},
                  message=message, **_choices())


@instructions_bp.route("/instructions/<int:instruction_id>", methods=["GET", "POST"])
def instruction(instruction_id: int) -> ResponseReturnValue:
    if request.method == "GET":
        done = request.args.get("done")
        return _page(instruction_id, message=done if done in NOTICES else None)
    db = db_session()
    action = request.form.get("action", "")
    try:
        if action == "copy":
            copied = instructions.copy(db, instruction_id, request.form.getlist("stores"))
            db.commit()
            return redirect(url_for(".instruction", instruction_id=copied.id, done="copied"),
                            303)
        if action == "end":
            instructions.end(db, instruction_id, dt.datetime.now(dt.UTC))
        else:
            raise Invalid("unknown action", {"action": ["copy or end"]})
        db.commit()
    except ServiceError as exc:
        db.rollback()
        return _page(instruction_id, exc.status, field_messages(exc.errors), exc.message)
    return redirect(url_for(".instruction", instruction_id=instruction_id, done=action), 303)
