"""REST for display content (SPEC S6): a store's or group's promotional display items."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from central.api.requests import Blueprint
from central.services import display
from central.transactions import db_session, transactional

display_blp = Blueprint("display-content", __name__, url_prefix="/api/v1/display-content",
                        description="What the customer displays of a store or a group show "
                                    "beside the basket (a store's own content wins)")


class DisplayItem(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(display.KINDS))
    src = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    seconds = fields.Integer(load_default=None, allow_none=True,
                             validate=validate.Range(min=1, max=3600))


class DisplayContentIn(Schema):
    items = fields.List(fields.Nested(DisplayItem), required=True,
                        validate=validate.Length(max=display.MAX_ITEMS))


class DisplayContentOut(Schema):
    scope = fields.String()
    code = fields.String()
    items = fields.List(fields.Nested(DisplayItem))


@display_blp.route("/<scope>/<code>")
class DisplayContent(MethodView):
    @display_blp.response(200, DisplayContentOut)
    def get(self, scope: str, code: str) -> Any:
        return {"scope": scope, "code": code,
                "items": display.get(db_session(), scope, code)}

    @display_blp.arguments(DisplayContentIn)
    @display_blp.response(200, DisplayContentOut)
    @transactional
    def put(self, data: dict[str, Any], scope: str, code: str) -> Any:
        """Set the items (images and videos by http(s) URL, cached by the stores; web
        pages); the stores concerned get them."""
        return {"scope": scope, "code": code, "items": display.put(
            db_session(), scope, code, data["items"], dt.datetime.now(dt.UTC))}

    @display_blp.response(204)
    @transactional
    def delete(self, scope: str, code: str) -> None:
        """Remove it: the stores fall back to their group's content or their local folder."""
        display.delete(db_session(), scope, code)


DISPLAY_BLUEPRINTS = (display_blp,)
