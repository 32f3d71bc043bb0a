"""Who is signed in to the console: a session cookie that carries an API token.

Signing in goes through ``auth.sign_in`` (argon2, the lockout after wrong passwords) and
makes a token named ``console`` that lives at most ``LIFETIME``; the signed, HttpOnly,
SameSite=Lax cookie holds it and the time of the user's last action. A cookie idle for
longer than the configured minutes, a revoked or expired token, or an inactive user all
mean signing in again. Signing out revokes the token, so a copied cookie dies with it.
Requests the page makes by itself (htmx polling) do not count as the user's activity.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
from pathlib import Path

from flask import Flask, current_app, request, session

from central.api.access import Principal
from central.services import auth
from central.settings import CentralSettings
from central.transactions import db_session

log = logging.getLogger(__name__)

TOKEN_NAME = "console"
LIFETIME = dt.timedelta(hours=12)
TOKEN = "token"
SEEN = "seen"
# htmx sends the id of the element that made the request; these poll on their own.
PASSIVE_TRIGGERS = frozenset({"fleet-live"})


def _secret_key(settings: CentralSettings) -> str:
    """TESSERA_SECRET_KEY, else a key kept in var_dir (made once, shared by the workers)."""
    if settings.secret_key:
        return settings.secret_key
    var_dir = Path(settings.var_dir)
    path = var_dir / "console-secret-key"
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(48))
    log.info("console: made a session key in %s (set TESSERA_SECRET_KEY to choose one)", path)
    return path.read_text().strip()


def init_app(app: Flask) -> None:
    settings = app.extensions["tessera.settings"]
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(settings)
    idle = dt.timedelta(minutes=settings.console_idle_minutes)
    app.config.update(
        SESSION_COOKIE_NAME="tessera_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(settings.cookie_secure),
        PERMANENT_SESSION_LIFETIME=idle,
    )
    app.extensions["tessera.console_idle"] = idle


def _now() -> dt.datetime:
    from central.api.access import now
    return now()


def start(user_token: str) -> None:
    """A fresh session for a token just made by signing in."""
    session.clear()
    session.permanent = True
    session[TOKEN] = user_token
    session[SEEN] = int(_now().timestamp())


def signed_in() -> bool:
    """Whether this browser's session holds a sign-in (not yet checked: see principal)."""
    return isinstance(session.get(TOKEN), str)


def principal() -> Principal:
    """The signed-in user of this request; ``AuthenticationFailed`` when there is none."""
    presented = session.get(TOKEN)
    if not isinstance(presented, str):
        raise auth.AuthenticationFailed("sign in first")
    now = _now()
    idle: dt.timedelta = current_app.extensions["tessera.console_idle"]
    seen = session.get(SEEN)
    db = db_session()
    try:
        token = auth.resolve_token(db, presented, now)
        # whole seconds: the app's JSON (the cookie's too) reads fractions as Decimal
        expired = not isinstance(seen, int) or now.timestamp() - seen > idle.total_seconds()
        if token is not None and expired:
            auth.revoke_token(db, token.id, now)
            token = None
        who = None if token is None else Principal(token.user.id, token.user.username,
                                                   auth.roles_of(token.user), token.id)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    if who is None:
        session.clear()
        raise auth.AuthenticationFailed("your session has ended: sign in again")
    if request.headers.get("HX-Trigger") not in PASSIVE_TRIGGERS:
        session[SEEN] = int(now.timestamp())
    return who


def stop() -> None:
    """Sign out: revoke the session's token and forget the cookie's content."""
    presented = session.get(TOKEN)
    if isinstance(presented, str):
        db = db_session()
        token = auth.resolve_token(db, presented, _now())
        if token is not None:
            auth.revoke_token(db, token.id, _now())
        db.commit()
    session.clear()
