"""Head-office users and their tokens (admin only, by the access table)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from central.api.access import now
from central.api.auth_views import TokenIn, UserIn, UserPatch
from central.console import export
from central.console.pages import field_messages, page_blueprint, render
from central.services import auth
from central.services.errors import ServiceError
from central.transactions import db_session

users_bp = page_blueprint("users", __name__)

PAGE_SIZE = 100


def _list(status: int = 200, errors: dict[str, list[str]] | None = None,
          message: str | None = None, values: Any = None) -> ResponseReturnValue:
    try:
        page_no = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page_no = 1
    rows, total = auth.list_users(db_session(), page_no, PAGE_SIZE)
    return render("users/list.html", status=status, users=rows, total=total, page=page_no,
                  pages=max(1, -(-total // PAGE_SIZE)), now=now(), roles_of=auth.roles_of,
                  all_roles=auth.ROLES, errors=errors or {}, message=message,
                  values=values or {}, **export.export_links(".export_users"))


USER_HEADER = ("username", "roles", "active", "password", "locked_until", "created_at",
               "language")
EXPORT_CHUNK = 500


@users_bp.get("/users/export.<fmt>")
def export_users(fmt: str) -> ResponseReturnValue:
    """Every user (no secret: whether a password is set, not its hash) as CSV or Excel."""
    db = db_session()

    def rows() -> Iterator[tuple[Any, ...]]:
        page_no = 1
        while True:
            found, total = auth.list_users(db, page_no, EXPORT_CHUNK)
            for u in found:
                yield (u.username, " ".join(sorted(auth.roles_of(u))), u.active,
                       u.password_hash is not None, u.locked_until, u.created_at,
                       u.language)
            if page_no * EXPORT_CHUNK >= total:
                return
            page_no += 1

    return export.table_response(fmt, "users", USER_HEADER, rows())


@users_bp.route("/users", methods=["GET", "POST"])
def users() -> ResponseReturnValue:
    if request.method == "GET":
        return _list()
    db = db_session()
    try:
        data = UserIn().load({"username": request.form.get("username", "").strip(),
                              "roles": request.form.getlist("roles"),
                              "password": request.form.get("password") or None})
        user = auth.create_user(db, data["username"], data["roles"], data["password"], now())
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return _list(422, field_messages(exc.messages), values=request.form)
    except ServiceError as exc:
        db.rollback()
        return _list(exc.status, field_messages(exc.errors), exc.message, request.form)
    return redirect(url_for(".user", username=user.username), 303)


def _user_page(username: str, status: int = 200, errors: dict[str, list[str]] | None = None,
               message: str | None = None, secret: str | None = None) -> ResponseReturnValue:
    db = db_session()
    user = auth.get_user(db, username)
    return render("users/user.html", status=status, user=user, roles=auth.roles_of(user),
                  all_roles=auth.ROLES, tokens=auth.list_tokens(db, username), now=now(),
                  errors=errors or {}, message=message, secret=secret)


@users_bp.route("/users/<username>", methods=["GET", "POST"])
def user(username: str) -> ResponseReturnValue:
    if request.method == "GET":
        return _user_page(username, message="saved" if request.args.get("saved") else None)
    db = db_session()
    try:
        changes = UserPatch().load({
            "roles": request.form.getlist("roles"), "active": request.form.get("active") == "on",
            **({"password": request.form["password"]} if request.form.get("password") else {}),
            "unlock": request.form.get("unlock") == "on",
            "language": request.form.get("language") or None})
        auth.update_user(db, username, changes)
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return _user_page(username, 422, field_messages(exc.messages))
    except ServiceError as exc:
        db.rollback()
        return _user_page(username, exc.status, field_messages(exc.errors), exc.message)
    return redirect(url_for(".user", username=username, saved=1), 303)


@users_bp.post("/users/<username>/tokens")
def issue_token(username: str) -> ResponseReturnValue:
    """A token for a script: its secret is on this answer only."""
    db = db_session()
    try:
        data = TokenIn().load({"name": request.form.get("name", "").strip(),
                               "ttl_hours": request.form.get("ttl_hours") or None})
        ttl = None if data.get("ttl_hours") is None else dt.timedelta(hours=data["ttl_hours"])
        _row, secret = auth.issue_token(db, username, data["name"], now(), ttl)
        db.commit()
    except ValidationError as exc:
        db.rollback()
        return _user_page(username, 422, field_messages(exc.messages))
    except ServiceError as exc:
        db.rollback()
        return _user_page(username, exc.status, field_messages(exc.errors), exc.message)
    return _user_page(username, secret=secret)


@users_bp.post("/users/<username>/tokens/<int:token_id>/revoke")
def revoke_token(username: str, token_id: int) -> ResponseReturnValue:
    db = db_session()
    token = auth.get_token(db, token_id)
    if token.user.username != auth.normalise_username(username):
        return _user_page(username, 404, message="no such token for this user")
    auth.revoke_token(db, token_id, now())
    db.commit()
    return redirect(url_for(".user", username=username), 303)
