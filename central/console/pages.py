"""What every console page shares: its blueprint, CSRF, errors as pages, security headers.

A page blueprint is made with ``page_blueprint``: it gets the feature's template folder, a
CSRF check on every form it receives, and error handlers that answer with a page (sign-in
needed: a redirect to /login; refused: 403) instead of the REST API's JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf, validate_csrf
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from wtforms.validators import ValidationError

from central.services.auth import AuthenticationFailed, PermissionDenied
from central.services.errors import ServiceError

log = logging.getLogger(__name__)

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# No inline script or style anywhere: htmx's own indicator styles are off (base layout).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class CsrfRefused(PermissionDenied):
    """A form came without its CSRF token, or with a wrong or stale one."""


def is_htmx() -> bool:
    """An htmx request (it wants a fragment, not the whole page)."""
    return request.headers.get("HX-Request") == "true"


def render(template: str, fragment: str | None = None, status: int = 200,
           **context: Any) -> ResponseReturnValue:
    """The whole page, or only ``fragment`` for an htmx request that is not a boost."""
    name = fragment if fragment and is_htmx() and not request.headers.get("HX-Boosted") \
        else template
    return render_template(name, **context), status


def field_messages(messages: Any) -> dict[str, list[str]]:
    """Marshmallow's or a service's field errors as {field: [message, ...]}."""
    result: dict[str, list[str]] = {}
    for name, value in (messages or {}).items():
        if isinstance(value, dict):  # a list field: {index: [messages]}
            result[name] = [m for ms in value.values() for m in (ms if isinstance(ms, list)
                                                                  else [str(ms)])]
        else:
            result[name] = [str(m) for m in (value if isinstance(value, list) else [value])]
    return result


def _check_csrf() -> None:
    if request.method not in UNSAFE:
        return
    token = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    try:
        validate_csrf(token)
    except ValidationError as exc:
        log.warning("console: %s %s refused: %s", request.method, request.path, exc)
        raise CsrfRefused(_("This form has expired or did not come from this console: load the page again.")) from None  # noqa: E501


def _sign_in_redirect() -> Response:
    target = request.full_path.rstrip("?") if request.method == "GET" else "/"
    if is_htmx():
        response = Response(status=204)
        response.headers["HX-Redirect"] = "/login"
        return response
    location = "/login" + ("?" + urlencode({"next": target}) if target != "/" else "")
    return redirect(location, 302)  # type: ignore[return-value]


def _error_page(status: int, message: str) -> ResponseReturnValue:
    return render_template("layout/error.html", status=status, message=message), status


def _service_error(exc: ServiceError) -> ResponseReturnValue:
    if isinstance(exc, AuthenticationFailed):
        return _sign_in_redirect()
    if isinstance(exc, PermissionDenied) and not isinstance(exc, CsrfRefused):
        return _error_page(403, _("Your roles do not allow this page or action."))
    return _error_page(exc.status, exc.message)


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    status = exc.code or 500
    return _error_page(status, exc.description or "")


def _integrity(exc: IntegrityError) -> ResponseReturnValue:
    log.warning("console: integrity error: %s", exc.orig)
    return _error_page(409, _("This conflicts with existing data (a code or barcode already used?): load the page again and check."))  # noqa: E501


def _unexpected(exc: Exception) -> ResponseReturnValue:
    log.exception("console: unhandled error on %s %s", request.method, request.path)
    return _error_page(500, _("Something went wrong; the server log has the details."))


def page_blueprint(name: str, import_name: str, url_prefix: str | None = None) -> Blueprint:
    """A console feature's blueprint: ``console-<name>``, templates beside its module."""
    bp = Blueprint(f"console-{name}", import_name, url_prefix=url_prefix,
                   template_folder="templates")
    bp.before_request(_check_csrf)
    bp.register_error_handler(ServiceError, _service_error)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(IntegrityError, _integrity)  # else the API's JSON answer wins
    bp.register_error_handler(Exception, _unexpected)
    return bp


def init_app(app: Flask, blueprints: Iterable[str]) -> None:
    """Security headers on every console response; ``csrf_token()`` in templates."""
    names = frozenset(blueprints)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # as long as the signed-in session
    app.config.setdefault("WTF_CSRF_FIELD_NAME", CSRF_FIELD)
    app.jinja_env.globals["csrf_token"] = generate_csrf

    @app.after_request
    def _headers(response: Response) -> Response:
        if request.blueprint in names:
            for header, value in SECURITY_HEADERS.items():
                response.headers.setdefault(header, value)
            if request.blueprint != "console-assets":
                response.headers.setdefault("Cache-Control", "no-store")
                response.vary.add("Cookie")
        return response
