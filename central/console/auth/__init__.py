"""Signing in and out of the console, and choosing its language."""

from __future__ import annotations

from flask import redirect, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from central.api.access import now
from central.console import i18n, signin
from central.console.pages import page_blueprint, render
from central.services import auth
from central.transactions import db_session

auth_bp = page_blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never another host (``//evil``, ``https://...``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@auth_bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render("auth/login.html", next=target, username="")
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    db = db_session()
    try:
        made = auth.sign_in(db, username, password, signin.TOKEN_NAME, now(), signin.LIFETIME)
        db.commit()  # a failure counts towards the lockout too
    except BaseException:
        db.rollback()
        raise
    if made is None:
        return render("auth/login.html", next=target, username=username,
                      error=_("Wrong username or password, or the account is locked or "
                              "inactive."))
    token, secret = made
    # The user's own language first (their profile), then what this browser used so far.
    language = token.user.language or i18n.select_locale()
    signin.start(secret)
    i18n.choose(language)
    return redirect(target, 303)


@auth_bp.post("/logout")
def logout() -> ResponseReturnValue:
    language = i18n.select_locale()
    signin.stop()
    i18n.choose(language)
    return redirect("/login", 303)


@auth_bp.post("/language")
def language() -> ResponseReturnValue:
    chosen = request.form.get("language", "")
    if i18n.choose(chosen) and signin.signed_in():
        # Signed in: the choice goes into the user's profile, for their next sign-in.
        db = db_session()
        try:
            auth.set_language(db, signin.principal().user_id, chosen)
            db.commit()
        except auth.AuthenticationFailed:
            db.rollback()
        except BaseException:
            db.rollback()
            raise
    return redirect(_safe_next(request.form.get("next")), 303)
