"""Head-office users and their tokens (admin only, by the access table)."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from central.api.access import now
from central.console.pages import page_blueprint, render
from central.services import auth
from central.web import db_session

users_bp = page_blueprint("users", __name__)

PAGE_SIZE = 100


@users_bp.get("/users")
def users() -> ResponseReturnValue:
    try:
        page_no = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page_no = 1
    rows, total = auth.list_users(db_session(), page_no, PAGE_SIZE)
    return render("users/list.html", users=rows, total=total, page=page_no,
                  pages=max(1, -(-total // PAGE_SIZE)), now=now(), roles_of=auth.roles_of)
