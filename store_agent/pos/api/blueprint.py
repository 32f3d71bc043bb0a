"""How the agent's HTTP API reads request bodies (every /pos/v1 blueprint uses this)."""

from __future__ import annotations

from typing import Any

from flask import Request
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from protocol.encoding import JSONError, decode_json


class BodyParser(FlaskParser):
    """Bodies read with the wire's JSON reader: JSON content type only (else 415), nesting
    bounded, errors naming the position. (Central's API reads bodies the same way.)"""

    def _raw_load_json(self, req: Request) -> Any:
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


class Blueprint(SmorestBlueprint):  # type: ignore[misc]
    """flask-smorest's Blueprint reading bodies with BodyParser."""

    ARGUMENTS_PARSER = BodyParser()
