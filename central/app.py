"""The central web application's factory: JSON, the API and the console, error handling.

The request's database session and the transaction around a view are in
``central.transactions``."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from flask import Flask, Response, g, jsonify
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Api
from marshmallow import fields as ma_fields
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from central import settings as settings_mod
from central.db import Database
from central.services.errors import ServiceError
from protocol.encoding import decode_json

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


class DecimalJSONProvider(DefaultJSONProvider):
    """Reads JSON numbers with a fraction as Decimal and writes Decimal as a string."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return decode_json(s)

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return str(o)
        return DefaultJSONProvider.default(o)


MAX_BODY = 8 * 1024 * 1024


def decimal_as_string(_converter: Any, field: Any, ret: dict[str, Any] | None = None,
                      **_: Any) -> dict[str, Any]:
    """OpenAPI: a Decimal rendered as a string is a string (apispec says number)."""
    if isinstance(field, ma_fields.Decimal) and field.as_string:
        for bound in ("minimum", "maximum"):  # of a number; a string has none
            (ret or {}).pop(bound, None)
        return {"type": "string", "format": "decimal",
                **{k: v for k, v in field.metadata.items() if k in ("pattern", "example")}}
    return {}


def _error(status: int, message: str, errors: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {"code": status, "status": _reason(status), "message": message}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    return response


LOCATIONS = ("json", "query", "form", "files", "headers", "path", "cookies")


def field_errors(errors: Any) -> Any:
    """Field messages in one shape: ``{field: [...]}``, whatever part of the request held
    the field (webargs nests them under the location; services do not)."""
    if isinstance(errors, dict) and errors and set(errors) <= set(LOCATIONS):
        flat: dict[str, Any] = {}
        for messages in errors.values():
            if isinstance(messages, dict):
                flat.update(messages)
        return flat
    return errors


def _reason(status: int) -> str:
    from http import HTTPStatus
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the web application. ``test_config`` may carry DATABASE (a Database)."""
    app = Flask(__name__)
    app.json = DecimalJSONProvider(app)
    app.config.update(
        API_TITLE="Tessera central",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        API_SPEC_OPTIONS={"info": {"description": "Head-office API of Tessera. Money is "
                                                  "a decimal string."}},
        JSON_SORT_KEYS=False,
        # The largest body: a price import (XLSX); anything above is refused with 413.
        MAX_CONTENT_LENGTH=MAX_BODY,
    )
    if test_config:
        app.config.update(test_config)
    database = app.config.get("DATABASE")
    if database is None:
        database = Database(settings_mod.load().database_url)
    app.extensions["tessera.db"] = database
    app.extensions["tessera.settings"] = app.config.get("SETTINGS") or settings_mod.load()

    from central.api.requests import BoundedInteger, int_converter_doc

    app.url_map.converters["int"] = BoundedInteger
    api = Api(app)
    api.register_converter(BoundedInteger, int_converter_doc)
    api.ma_plugin.converter.add_attribute_function(decimal_as_string)  # type: ignore[union-attr]
    from central.api import access
    access.init_app(app, api)  # before the blueprints: it documents each of them
    from central.api.blueprints import BLUEPRINTS
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)

    from central import console
    console.init_app(app)  # the web pages; after the API: its error handlers win on /api

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Any:
        return _error(exc.status, exc.message, exc.errors)

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError) -> Any:
        log.warning("integrity error: %s", exc.orig)
        return _error(409, "conflicts with existing data (a code or barcode already used?)")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        data = getattr(exc, "data", {}) or {}
        status = exc.code or 500
        return _error(status, data.get("message") or exc.description or _reason(status),
                      field_errors(data.get("messages") or data.get("errors")))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error")
        return _error(500, "internal error; the server log has the details")

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            with database.sessions() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - health reports any failure
            return _error(503, f"database unreachable: {exc.__class__.__name__}")
        return {"status": "ok", "database": "ok"}

    @app.get("/metrics")
    def metrics() -> Any:
        """Prometheus exposition (text format 0.0.4), computed from the database."""
        from central import metrics as metrics_mod

        with database.sessions() as session:
            body = metrics_mod.render(session, dt.datetime.now(dt.UTC))
        return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8")

    return app
