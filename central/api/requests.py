"""How the REST API reads requests: one JSON reader, bounded pages and path integers.

Every blueprint of the API is a ``Blueprint`` from here, so that every view reads its body
the same way: JSON only with a JSON content type (else 415), decoded by the wire's reader
(numbers as Decimal, nesting bounded, errors naming the position), pages and path ids
bounded so that no number from a URL reaches the database out of its column's range.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from typing import Any

import flask
import marshmallow as ma
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from protocol.encoding import JSONError, decode_json

# Ids are INTEGER columns; a page beyond MAX_PAGE would ask the database for an offset
# past any table (and past BIGINT at a huge page number).
MAX_ID = 2**31 - 1
MAX_PAGE = 1_000_000_000


class JSONBodyParser(FlaskParser):
    """webargs' Flask parser reading bodies with the wire's JSON reader."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        data = req.get_data(cache=True)
        if not is_json_request(req):
            if data:
                abort(415, message=f"send JSON with Content-Type: application/json, not "
                                   f"{req.mimetype or 'no content type'}")
            return core.missing
        if not data:
            return core.missing
        try:
            return decode_json(data)
        except JSONError as exc:
            abort(400, message=f"the body is not acceptable JSON: {exc}",
                  messages={"json": [str(exc)]})


class BadPathValue(HTTPException):
    """A path parameter out of its range: 422 naming it (not a 500 from the database)."""

    code = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.data = {"message": message, "messages": {"path": {"id": [message]}}}


class BoundedInteger(IntegerConverter):
    """``<int:...>`` of the API: 0 to MAX_ID; a larger number is refused, not looked up."""

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise BadPathValue(f"the id in the path must be at most {MAX_ID}")
        return number


def int_converter_doc(_converter: Any) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "maximum": MAX_ID}


class PageArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_PAGE))
    page_size = ma.fields.Integer(load_default=10, validate=ma.validate.Range(min=1, max=100))


PAGINATION_HEADER = {
    "description": "JSON text of an object: total, total_pages, first_page, last_page, "
                   "page, previous_page, next_page",
    "schema": {"type": "string"},
}


class Blueprint(SmorestBlueprint):
    """flask-smorest's Blueprint with the API's reader and bounded pagination."""

    ARGUMENTS_PARSER = JSONBodyParser()

    def paginate(self, pager: Any = None, *, page: int | None = None,
                 page_size: int | None = None,
                 max_page_size: int | None = None) -> Callable[[Any], Any]:
        decorate = super().paginate(pager, page=page, page_size=page_size,
                                    max_page_size=max_page_size)

        def decorator(func: Any) -> Any:
            inner = decorate(func)

            @wraps(inner)
            def checked(*args: Any, **kwargs: Any) -> Any:
                errors = PageArgs().validate(flask.request.args)
                if errors:
                    abort(422, message="invalid page", messages={"query": errors})
                return inner(*args, **kwargs)

            doc = deepcopy(getattr(inner, "_apidoc", {}))
            if "pagination" in doc:
                doc["pagination"]["parameters"]["schema"] = PageArgs
            checked._apidoc = doc  # type: ignore[attr-defined]
            return checked

        return decorator

    def _document_pagination_metadata(self, spec: Any, resp_doc: dict[str, Any]) -> None:
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = \
            deepcopy(PAGINATION_HEADER)
